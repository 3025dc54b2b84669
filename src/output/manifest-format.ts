import { DATA_TYPE_SUPPORTS, type DataTypeSupport } from '../config/types.js';

/**
 * Which manifest platform mode writes (docs/output-manifests.md): the legacy one
 * (`columns`, `primary_key`) or the native-types one (`manifest_type`, `schema`).
 */
export type ManifestChoice =
  | { readonly format: 'legacy'; readonly reason: string }
  | {
      readonly format: 'native';
      readonly support: 'authoritative' | 'hints';
      readonly reason: string;
    };

/** How the log line of the legacy choice begins; its reason follows. */
export const LEGACY_MANIFESTS = 'Manifests: the legacy format (columns, primary_key)';

/** The environment variable the runner sets in projects with native data types. */
export const DATA_TYPE_SUPPORT_ENV = 'KBC_DATA_TYPE_SUPPORT';

/**
 * Chooses the manifest format as Keboola's python-component does (pure): the native-types
 * manifest when the effective data-type support is `authoritative` or `hints`, else the legacy
 * one. The effective support is `storage.output.data_type_support` of config.json when set
 * (already validated), else `KBC_DATA_TYPE_SUPPORT`. An environment value that is none of the
 * three known values keeps the legacy manifest, which every project loads.
 * @returns the format and one sentence saying why, for the log
 */
export function chooseManifestFormat(
  configured: DataTypeSupport | undefined,
  fromEnv: string | undefined,
): ManifestChoice {
  if (configured !== undefined) {
    return choose(configured, `config.json storage.output.data_type_support is "${configured}"`);
  }
  if (fromEnv === undefined || fromEnv === '') {
    return {
      format: 'legacy',
      reason: `${LEGACY_MANIFESTS}: neither storage.output.data_type_support in config.json nor ${DATA_TYPE_SUPPORT_ENV} is set.`,
    };
  }
  if (!(DATA_TYPE_SUPPORTS as readonly string[]).includes(fromEnv)) {
    return {
      format: 'legacy',
      reason: `${LEGACY_MANIFESTS}: ${DATA_TYPE_SUPPORT_ENV} ${JSON.stringify(fromEnv.slice(0, 40))} is none of ${DATA_TYPE_SUPPORTS.join(', ')}.`,
    };
  }
  return choose(fromEnv as DataTypeSupport, `${DATA_TYPE_SUPPORT_ENV} is "${fromEnv}"`);
}

function choose(support: DataTypeSupport, because: string): ManifestChoice {
  if (support === 'none') {
    return {
      format: 'legacy',
      reason: `${LEGACY_MANIFESTS}, as ${because}.`,
    };
  }
  return {
    format: 'native',
    support,
    reason: `Manifests: the native-types format (manifest_type, schema with base types), as ${because}.`,
  };
}
