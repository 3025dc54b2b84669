import { nearestName } from '../text/nearest.js';
import { StorageApiError, UserError } from '../errors.js';
import { timestampMs } from '../storage/parse.js';
import type { TokenInfo } from '../storage/types.js';

/** What a valid source token grants: one bucket, read-only. */
export interface SourceAuthorization {
  /** The token's id (its own events and detail are readable with it). */
  readonly tokenId: string;
  readonly bucketId: string;
  readonly projectId: number;
  readonly projectName: string;
  /** The source project's default backend (`owner.defaultBackend`), when the token says. */
  readonly backend?: string;
  /** Things the user should know but that do not stop the run. */
  readonly warnings: readonly string[];
}

/** Warn when the token expires within this many days. */
const EXPIRY_WARNING_DAYS = 14;
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The time until an expiry as a person reads it: hours under two days, else days, rounded to the
 * nearest (a token made with `--expires-in 5d` is "about 5 days" away, not 4).
 */
export function describeTimeLeft(leftMs: number): string {
  const hours = Math.round(leftMs / HOUR_MS);
  if (hours < 1) return 'less than an hour';
  if (hours < 48) return `about ${hours} hour(s)`;
  return `about ${Math.round(leftMs / DAY_MS)} days`;
}

/**
 * The warning for a token that expires within {@link EXPIRY_WARNING_DAYS}; undefined otherwise.
 * It advises a new token: a refresh (token rotate) keeps the token and may keep its expiry
 * (docs/tokens.md).
 */
export function expiryWarning(
  role: 'source' | 'destination',
  expires: string | null,
  nowMs: number,
): string | undefined {
  const leftMs = expires ? timestampMs(expires) - nowMs : Number.NaN;
  if (!Number.isFinite(leftMs) || leftMs >= EXPIRY_WARNING_DAYS * DAY_MS) return undefined;
  if (leftMs <= 0) {
    return `The ${role} token expires at ${expires ?? ''}, already past by this machine's clock: create a new one with "kbc-table-sync token create" before scheduled runs fail.`;
  }
  return `The ${role} token expires in ${describeTimeLeft(leftMs)} (${expires ?? ''}): create a new one with "kbc-table-sync token create" before scheduled runs fail, as token rotate may keep the expiry.`;
}

/**
 * Checks the source token's privileges (docs/architecture.md, Token rules) before any data moves.
 * @returns the single bucket the token may read, with warnings
 * @throws UserError naming exactly what is wrong with the token
 */
export function checkSourceToken(
  token: TokenInfo,
  options: { readonly configuredRegion?: string; readonly nowMs: number },
): SourceAuthorization {
  rejectPowerfulOrDeadToken(token);
  const bucketId = singleReadBucket(token.bucketPermissions);
  return {
    tokenId: token.id,
    bucketId,
    projectId: token.owner.id,
    projectName: token.owner.name,
    ...(token.owner.defaultBackend !== undefined && { backend: token.owner.defaultBackend }),
    warnings: tokenWarnings(token, options),
  };
}

function rejectPowerfulOrDeadToken(token: TokenInfo): void {
  if (token.isMasterToken || token.admin) {
    throw new UserError(
      'The token is a master token: use a limited token with read-only permissions to a single bucket.',
    );
  }
  if (token.canManageBuckets) {
    throw new UserError(
      'The token can manage buckets: use a token with read-only permissions to a single bucket only.',
    );
  }
  if (token.canManageTokens) {
    throw new UserError(
      'The token can manage tokens: use a token with read-only permissions to a single bucket only.',
    );
  }
  if (token.isDisabled)
    throw new UserError('The token is disabled: enable it or use another token.');
  if (token.isExpired)
    throw new UserError(
      'The token has expired: create a new one with "kbc-table-sync token create".',
    );
}

function singleReadBucket(permissions: Readonly<Record<string, string>>): string {
  const entries = Object.entries(permissions);
  const [first] = entries;
  if (entries.length !== 1 || !first) {
    const found =
      entries.length === 0
        ? 'it has none'
        : `it has ${entries.length}: ${entries.map(([id]) => id).join(', ')}`;
    throw new UserError(
      `The token must have read-only permissions to a single bucket only (${found}).`,
    );
  }
  const [bucketId, permission] = first;
  if (permission !== 'read') {
    throw new UserError(
      `The token must have read-only permissions to the bucket "${bucketId}" (it has "${permission}").`,
    );
  }
  return bucketId;
}

function tokenWarnings(
  token: TokenInfo,
  options: { readonly configuredRegion?: string; readonly nowMs: number },
): string[] {
  const warnings: string[] = [];
  const expiry = expiryWarning('source', token.expires ?? null, options.nowMs);
  if (expiry !== undefined) warnings.push(expiry);
  if (token.canReadAllFileUploads) {
    warnings.push(
      'The source token can read all file uploads of the source project: a token without that permission is safer.',
    );
  }
  if (
    options.configuredRegion &&
    token.owner.region &&
    token.owner.region !== options.configuredRegion
  ) {
    warnings.push(
      `The source project is in region "${token.owner.region}" but the configuration says "${options.configuredRegion}".`,
    );
  }
  warnings.push(...unneededPrivilegeWarnings(token, 'source'));
  return warnings;
}

/**
 * Privileges the job never uses, beyond the ones the token rules refuse: each is a warning, not a
 * refusal (docs/tokens.md, Run-time checks).
 */
const UNNEEDED_FLAGS = {
  canCreateJobs: 'can create jobs',
  canManageDevBranches: 'can manage development branches',
  canReadAllProjectEvents: 'can read all events of the project',
  canPurgeTrash: 'can delete configurations from the trash for good',
  canManageProtectedDefaultBranch: 'can manage the protected default branch',
} as const;

/**
 * A warning per component the token may use (all in one sentence) and per unneeded privilege flag
 * it holds; none for a token without them. The run and `token inspect` give the same sentences.
 */
export function unneededPrivilegeWarnings(
  token: Pick<TokenInfo, 'componentAccess' | keyof typeof UNNEEDED_FLAGS>,
  role: 'source' | 'destination',
): string[] {
  const warnings: string[] = [];
  if (token.componentAccess.length > 0) {
    warnings.push(
      `The ${role} token may use the components ${token.componentAccess.map((c) => JSON.stringify(c)).join(', ')} (componentAccess): the job uses none, so a token without component access is safer.`,
    );
  }
  for (const [flag, words] of Object.entries(UNNEEDED_FLAGS)) {
    if (token[flag as keyof typeof UNNEEDED_FLAGS]) {
      warnings.push(
        `The ${role} token ${words} (${flag}): the job never does, so a token without that privilege is safer.`,
      );
    }
  }
  return warnings;
}

/**
 * The warnings on a destination token that passed its check (standalone mode): expiry within
 * {@link EXPIRY_WARNING_DAYS}, then the privileges the job never uses. A run logs them, and
 * `token inspect` gives them in its verdict (docs/tokens.md, Run-time checks).
 */
export function destinationTokenWarnings(token: TokenInfo, nowMs: number): string[] {
  const expiry = expiryWarning('destination', token.expires, nowMs);
  return [
    ...(expiry === undefined ? [] : [expiry]),
    ...unneededPrivilegeWarnings(token, 'destination'),
  ];
}

/** What the destination token may do with the destination bucket (standalone mode). */
export interface DestinationAuthorization {
  readonly projectId: number;
  readonly projectName: string;
  /** The bucket does not exist: the `POST buckets` body that creates it under its id. */
  readonly bucketToCreate?: BucketCreateRequest;
}

export interface BucketCreateRequest {
  readonly stage: string;
  readonly name: string;
}

/** The project feature that stops the server adding `c-` to new bucket names. */
const NO_LEGACY_BUCKET_PREFIX = 'disable-legacy-bucket-prefix';
const LEGACY_PREFIX = 'c-';

/**
 * The `POST buckets` body that creates exactly `bucketId` (docs/storage-api-notes.md, Buckets):
 * a project without the feature adds `c-` to the name it is sent, so the name goes without it;
 * a project with the feature keeps the name as sent.
 * @throws UserError when the project cannot create that id: no feature and no `c-` in the name
 */
export function bucketCreateRequest(
  bucketId: string,
  projectFeatures: readonly string[],
): BucketCreateRequest {
  const dot = bucketId.indexOf('.');
  const stage = bucketId.slice(0, dot);
  const name = bucketId.slice(dot + 1);
  if (projectFeatures.includes(NO_LEGACY_BUCKET_PREFIX)) return { stage, name };
  if (name.startsWith(LEGACY_PREFIX) && name.length > LEGACY_PREFIX.length) {
    return { stage, name: name.slice(LEGACY_PREFIX.length) };
  }
  throw new UserError(
    `The destination bucket "${bucketId}" does not exist and cannot be created under that id: the destination project adds "${LEGACY_PREFIX}" to the names of new buckets, so use "${stage}.${LEGACY_PREFIX}${name}" instead, or create the bucket first.`,
  );
}

/** A bucket permission that lets a token import into the bucket's tables. */
function mayWrite(permission: string | undefined): boolean {
  return permission === 'write' || permission === 'manage';
}

/** A master or `canManageBuckets` token may write to every bucket and create new ones. */
function canManageAllBuckets(token: TokenInfo): boolean {
  return token.isMasterToken || token.canManageBuckets;
}

/**
 * Whether the destination token may look at the bucket at all: a limited token without a
 * permission on a bucket gets 403 for it (existing or not), so the job must not ask.
 */
export function canSeeDestinationBucket(token: TokenInfo, bucketId: string): boolean {
  return canManageAllBuckets(token) || token.bucketPermissions[bucketId] !== undefined;
}

/**
 * Checks the destination token (docs/architecture.md, Token rules): `write` (or `manage`) on the destination bucket, or the
 * right to create it when it does not exist yet.
 * @param bucketExists whether the bucket exists; ignored when the token has no permission on it
 * @throws UserError naming the bucket and the missing permission, or a bucket id the project
 *   cannot create
 */
export function checkDestinationToken(
  token: TokenInfo,
  bucketId: string,
  bucketExists: boolean,
): DestinationAuthorization {
  if (token.isDisabled || token.isExpired) {
    throw new UserError(
      'The destination token is disabled or expired: enable it or create a new one with "kbc-table-sync token create --write".',
    );
  }
  const identity = { projectId: token.owner.id, projectName: token.owner.name };
  const canManageAll = canManageAllBuckets(token);
  const permission = token.bucketPermissions[bucketId];
  if (!canManageAll && permission === undefined) {
    const writable = Object.keys(token.bucketPermissions).filter((id) =>
      mayWrite(token.bucketPermissions[id]),
    );
    const near = nearestName(bucketId, writable);
    const end = near === undefined ? '.' : `; or did you mean "${near}", which it may write?`;
    throw new UserError(
      `The destination token has no permission to the bucket "${bucketId}" and may not create buckets: give it write permission to that bucket (create the bucket first if it does not exist)${end}`,
    );
  }
  if (!bucketExists) {
    if (!canManageAll) {
      throw new UserError(
        `The destination bucket "${bucketId}" does not exist and the destination token may not create buckets: create the bucket and give the token write permission to it.`,
      );
    }
    return { ...identity, bucketToCreate: bucketCreateRequest(bucketId, token.owner.features) };
  }
  if (!canManageAll && !mayWrite(permission)) {
    throw new UserError(
      `The destination token must have write permission to the bucket "${bucketId}" (it has "${permission}").`,
    );
  }
  return identity;
}

/** `431 Request Header Fields Too Large`: a token header no server takes. */
export const HEADER_TOO_LARGE = 431;

/**
 * A 401 or 403 from `tokens/verify` at the start of a run means the configured token is unknown,
 * revoked, expired or refused by the stack, and a 404 or 405 that the URL is not a Storage API:
 * something the user fixes (exit 1), not an outage, and so is a 431 (a token too long for any
 * request header: the wrong value pasted). Other errors are returned as they are (and
 * exit 2 by the error policy).
 * @param url the stack asked, named in a 401/403 sentence: a token of another stack is the usual
 *   cause (never the token itself)
 */
export function explainRejectedToken(
  error: unknown,
  role: 'source' | 'destination',
  url?: string,
): unknown {
  if (!(error instanceof StorageApiError)) return error;
  const { status, code } = error.details;
  if (status === 404 || status === 405) {
    // Every Storage API answers tokens/verify: this URL points at something else.
    const keys =
      role === 'source' ? '"url" or "region"' : '"destination.url" or "destination.region"';
    return new UserError(
      `The ${role} URL does not answer as a Keboola Storage API (tokens/verify answered ${status}): check ${keys}.`,
    );
  }
  const key = role === 'source' ? '"#token"' : '"destination.#token"';
  if (status === HEADER_TOO_LARGE) {
    return new UserError(
      `The ${role} Storage API token is too long to be sent (tokens/verify answered ${status}, request header too large): set the token itself in ${key}, a string like 123-45678-abc…, nothing else.`,
    );
  }
  if (status !== 401 && status !== 403) return error;
  // Storage answers an expired token like an unknown or revoked one (storage.tokenInvalid); the
  // older storage.tokenExpired is still told apart should a stack send it. The words avoid those
  // a placeholder token is made of ("invalid", "secret", "test"): the masker would hide them in
  // the very sentence that explains the placeholder.
  const reason =
    status === 403
      ? 'was refused'
      : code === 'storage.tokenExpired'
        ? 'has expired'
        : 'is unknown, expired or revoked';
  if (url === undefined) {
    return new UserError(
      `The ${role} Storage API token ${reason} (tokens/verify answered ${status}): set a valid token in ${key}.`,
    );
  }
  const stack = role === 'source' ? '"region"/"url"' : '"destination.region"/"destination.url"';
  return new UserError(
    `The ${role} Storage API token ${reason} at ${url} (tokens/verify answered ${status}): set a valid token in ${key}, or check ${stack} if the token belongs to another stack.`,
  );
}
