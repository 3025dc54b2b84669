/**
 * The multi-tenant Keboola stacks (docs/configuration.md, Regions; docs/storage-api-notes.md, Addresses and requests): region id, alias and
 * Storage API base URL. Pure: no I/O.
 */
import type { RegionId } from './types.js';

export interface Region {
  readonly id: RegionId;
  /** Short alias accepted in `region` (`us`, `eu`, ...). */
  readonly alias: string;
  /** Storage API base URL, without a trailing slash. */
  readonly url: string;
  /** Human name of the stack, for documentation and messages. */
  readonly label: string;
}

export const REGIONS: readonly Region[] = [
  {
    id: 'us-east-1',
    alias: 'us',
    url: 'https://connection.keboola.com',
    label: 'US Virginia, AWS',
  },
  {
    id: 'eu-central-1',
    alias: 'eu',
    url: 'https://connection.eu-central-1.keboola.com',
    label: 'EU Frankfurt, AWS',
  },
  {
    id: 'north-europe',
    alias: 'azure-eu',
    url: 'https://connection.north-europe.azure.keboola.com',
    label: 'EU Ireland, Azure',
  },
  {
    id: 'europe-west3',
    alias: 'gcp-eu',
    url: 'https://connection.europe-west3.gcp.keboola.com',
    label: 'EU Frankfurt, GCP',
  },
  {
    id: 'us-east4',
    alias: 'gcp-us',
    url: 'https://connection.us-east4.gcp.keboola.com',
    label: 'US Virginia, GCP',
  },
];

/**
 * The region for an id or an alias (`eu-central-1` or `eu`), ignoring case and surrounding spaces;
 * `undefined` when it is neither.
 */
export function resolveRegion(idOrAlias: string): Region | undefined {
  const wanted = idOrAlias.trim().toLowerCase();
  return REGIONS.find((region) => region.id === wanted || region.alias === wanted);
}

/** The valid `region` values for messages: `us-east-1 (us), eu-central-1 (eu), ...`. */
export function regionChoices(): string {
  return REGIONS.map((region) => `${region.id} (${region.alias})`).join(', ');
}

/**
 * The multi-tenant region whose Storage API host the URL points at; `undefined` for any other URL
 * (single-tenant stacks, loopback emulators, unparseable text). Only the host is compared, so a
 * trailing slash, upper case or an explicit `:443` do not matter.
 */
export function regionForUrl(url: string): Region | undefined {
  const host = hostOf(url);
  if (host === undefined) return undefined;
  return REGIONS.find((region) => hostOf(region.url) === host);
}

function hostOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' ? parsed.host.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}
