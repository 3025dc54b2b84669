import * as z from 'zod';
import type { SecretMasker } from '../secrets.js';
import { createStorageHttp } from './http.js';
import {
  normalizeTimestamp,
  parseTokenInfo,
  StorageResponseError,
  warningOnlyTokenFields,
} from './parse.js';
import type { StorageClientOptions } from './storage-client.js';
import type { TokenInfo } from './types.js';

/**
 * The token endpoints of the Storage API (docs/tokens.md): verify, create, refresh, delete and the
 * token's own events. One instance per token string; the same HTTP adapter, retry policy and
 * masking as the Storage client.
 *
 * Contract: create and refresh mint a secret, so they are retried only when the request surely
 * never reached the server (like a job start); the minted string is registered with the masker
 * before it is returned, so no log line or error can show it.
 */
export interface TokenApi {
  readonly url: string;
  /**
   * `GET tokens/verify`: the job's view ({@link TokenInfo}) and the management fields. With
   * `afterStop`, called only once the stop signal (SIGTERM/SIGINT) has fired, the request still
   * goes out, once, within about 1 s: the check that tells whether a refresh the stop cut short
   * ended the configured token (docs/tokens.md, token rotate), or the check of a token created
   * despite the stop (docs/tokens.md, A stop during token create).
   */
  verify(options?: { readonly afterStop?: boolean }): Promise<VerifiedToken>;
  /**
   * `POST tokens` (master tokens only). An attempt under way when the stop signal fires is not
   * aborted: it runs to its answer or its request timeout, and that outcome is returned, since the
   * server may have created the token and shows its string only once (docs/tokens.md, token
   * create). No attempt starts after the signal.
   */
  create(body: TokenCreateBody): Promise<MintedToken>;
  /** `POST tokens/{id}/refresh`: a new string; the old one stops working at once. */
  refresh(tokenId: string): Promise<MintedToken>;
  /**
   * `DELETE tokens/{id}` (a limited token may delete itself). With `afterStop`, called only once
   * the stop signal has fired, the request still goes out, once, within about 1 s (as for
   * {@link verify}): a new token that failed the rules is deleted even after a stop.
   */
  remove(tokenId: string, options?: { readonly afterStop?: boolean }): Promise<void>;
  /** `GET tokens/{id}/events`, newest first. */
  events(tokenId: string, limit: number): Promise<TokenEvent[]>;
}

/** The fields of a token the lifecycle commands show (list, detail, create, refresh, verify). */
export interface TokenDetails {
  readonly id: string;
  readonly description: string;
  readonly created: string | null;
  readonly refreshed: string | null;
  readonly expires: string | null;
  readonly isMasterToken: boolean;
  /** `admin.role` of a master token (`admin`, `share`, `guest`, `readOnly`). */
  readonly role: string | undefined;
  readonly flags: Readonly<Record<TokenFlag, boolean>>;
  readonly bucketPermissions: Readonly<Record<string, string>>;
  readonly componentAccess: readonly string[];
}

const TOKEN_FLAGS = [
  'canManageBuckets',
  'canManageTokens',
  'canReadAllFileUploads',
  'canPurgeTrash',
  'canCreateJobs',
  'canManageDevBranches',
  'canReadAllProjectEvents',
  'canManageProtectedDefaultBranch',
  'isExpired',
  'isDisabled',
] as const;
type TokenFlag = (typeof TOKEN_FLAGS)[number];

export interface VerifiedToken {
  readonly info: TokenInfo;
  readonly details: TokenDetails;
}

/** A token with its secret string, from create or refresh. */
export interface MintedToken {
  readonly details: TokenDetails;
  readonly token: string;
}

export interface TokenEvent {
  readonly id: string;
  readonly event: string;
  readonly message: string;
  /** Normalised ISO timestamp. */
  readonly created: string;
}

/** `POST tokens` body (JSON). Every privilege not named is sent as false. */
export interface TokenCreateBody {
  readonly description?: string;
  readonly bucketPermissions: Readonly<Record<string, 'read' | 'write'>>;
  readonly expiresIn?: number;
  readonly canManageBuckets: false;
  readonly canReadAllFileUploads: false;
  readonly canPurgeTrash: false;
}

const STORAGE = '/v2/storage';

/** The token endpoints for `options.token` (registered with the masker by the HTTP adapter). */
export function createTokenApi(options: StorageClientOptions): TokenApi {
  const url = options.url.replace(/\/+$/, '');
  const http = createStorageHttp({ ...options, url });
  const path = (suffix: string) => `${STORAGE}/tokens${suffix}`;
  return {
    url,
    async verify(verifyOptions) {
      const raw = await http.request({
        method: 'GET',
        path: path('/verify'),
        cleanup: verifyOptions?.afterStop === true,
      });
      return {
        info: parseTokenInfo(raw, `GET ${path('/verify')}`),
        details: parseTokenDetails(raw, `GET ${path('/verify')}`),
      };
    },
    async create(body) {
      const raw = await http.request(
        { method: 'POST', path: path(''), body, finishAfterStop: true },
        'jobStart',
      );
      return parseMinted(raw, `POST ${path('')}`, options.masker);
    },
    async refresh(tokenId) {
      const where = path(`/${encodeURIComponent(tokenId)}/refresh`);
      const raw = await http.request({ method: 'POST', path: where }, 'jobStart');
      return parseMinted(raw, `POST ${where}`, options.masker);
    },
    async remove(tokenId, removeOptions) {
      const where = path(`/${encodeURIComponent(tokenId)}`);
      await http.request({
        method: 'DELETE',
        path: where,
        cleanup: removeOptions?.afterStop === true,
      });
    },
    async events(tokenId, limit) {
      const where = path(`/${encodeURIComponent(tokenId)}/events`);
      const raw = await http.request({ method: 'GET', path: where, params: { limit } });
      return parseTokenEvents(raw, `GET ${where}`);
    },
  };
}

const id = z.union([z.string(), z.number()]).transform(String);
const optionalText = z
  .string()
  .nullable()
  .optional()
  .transform((v) => (v == null ? null : normalizeTimestamp(v)));

const detailsSchema = z.object({
  id,
  token: z.string().optional(),
  description: z.string().nullable().optional(),
  created: optionalText,
  refreshed: optionalText,
  expires: optionalText,
  isMasterToken: z.boolean().optional(),
  ...Object.fromEntries(TOKEN_FLAGS.map((flag) => [flag, z.boolean().optional()])),
  bucketPermissions: z
    .union([z.array(z.unknown()).length(0), z.record(z.string(), z.string())])
    .optional(),
  // After the flags: the warning-only ones among them are read as the run's check reads them.
  ...warningOnlyTokenFields,
  admin: z.object({ role: z.string().optional() }).nullable().optional(),
});

/** Boundary parsing of a token answer (pure). @throws StorageResponseError naming the fields */
export function parseTokenDetails(raw: unknown, where: string): TokenDetails {
  const result = detailsSchema.safeParse(raw);
  if (!result.success) {
    const fields = result.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new StorageResponseError(`Unexpected Storage API answer to ${where}: ${fields}`);
  }
  const t = result.data;
  const record = t as unknown as Record<string, unknown>;
  const flags = Object.fromEntries(
    TOKEN_FLAGS.map((flag) => [flag, record[flag] === true]),
  ) as Record<TokenFlag, boolean>;
  const permissions = t.bucketPermissions;
  return {
    id: t.id,
    description: t.description ?? '',
    created: t.created,
    refreshed: t.refreshed,
    expires: t.expires,
    isMasterToken: t.isMasterToken ?? false,
    role: t.admin?.role,
    flags,
    bucketPermissions: permissions === undefined || Array.isArray(permissions) ? {} : permissions,
    componentAccess: t.componentAccess ?? [],
  };
}

function parseMinted(raw: unknown, where: string, masker: SecretMasker): MintedToken {
  const token = (raw as { token?: unknown } | null)?.token;
  if (typeof token !== 'string' || token === '') {
    throw new StorageResponseError(`Unexpected Storage API answer to ${where}: token missing`);
  }
  masker.add(token);
  // The token exists from here on, and its string is shown only in this answer: details of an
  // odd shape must not turn it into a failure, which would lose the string (a rotate would end
  // the old one for nothing). What cannot be read is left out.
  try {
    return { token, details: parseTokenDetails(raw, where) };
  } catch {
    return { token, details: minimalDetails(raw, token) };
  }
}

/** The details of a minted token whose answer could not be read whole: its id, nothing granted. */
function minimalDetails(raw: unknown, token: string): TokenDetails {
  const rawId = (raw as { id?: unknown }).id;
  const id = typeof rawId === 'string' || typeof rawId === 'number' ? String(rawId) : undefined;
  return {
    id: id ?? token.split('-')[1] ?? '',
    description: '',
    created: null,
    refreshed: null,
    expires: null,
    isMasterToken: false,
    role: undefined,
    flags: Object.fromEntries(TOKEN_FLAGS.map((flag) => [flag, false])) as Record<
      TokenFlag,
      boolean
    >,
    bucketPermissions: {},
    componentAccess: [],
  };
}

const eventSchema = z.object({
  id,
  event: z.string(),
  message: z.string().nullable().optional(),
  created: z.string(),
});

/** Boundary parsing of `tokens/{id}/events` (pure), newest first as the API sends them. */
export function parseTokenEvents(raw: unknown, where: string): TokenEvent[] {
  const result = z.array(eventSchema).safeParse(raw);
  if (!result.success) {
    throw new StorageResponseError(`Unexpected Storage API answer to ${where}: events`);
  }
  return result.data.map((e) => ({
    id: e.id,
    event: e.event,
    message: e.message ?? '',
    created: normalizeTimestamp(e.created),
  }));
}
