/**
 * The `token` commands (docs/tokens.md): create, inspect, rotate and revoke. Orchestration only:
 * every decision is in rules.ts and config-token.ts, every I/O is an injected dependency.
 *
 * Secrets: the creating token comes from `KBC_MASTER_TOKEN` only; a new token string leaves the
 * process only where the command promises (stdout alone on its line, or config.json); everything
 * else the commands print passes through the masker.
 */
import { describeTimeLeft, explainRejectedToken, HEADER_TOO_LARGE } from '../auth/check-token.js';
import {
  BAD,
  readRegion,
  readUrl,
  resolveEndpointUrl,
  isPlainObject,
  isBearerToken,
  isHeaderText,
  own,
  UNSENDABLE,
} from '../config/fields.js';
import { describeJsonType } from '../config/changed-since.js';
import { ConfigMissingError, type ConfigFile } from '../config/load-raw-config.js';
import { Problems } from '../config/problems.js';
import { escapeJsonLine } from '../text/escape.js';
import { deepestNesting } from '../text/json-depth.js';
import { regionForUrl } from '../config/regions.js';
import {
  InterruptedError,
  messageOf,
  StorageApiError,
  TokenRevokedError,
  UserError,
} from '../errors.js';
import { describeFsError } from '../fs-errors.js';
import { LOCK_DIR_NAME, LockHeldError } from '../lock/data-dir-lock.js';
import { classifyFailure } from '../retry/retry-policy.js';
import { hashValues, type SecretMasker } from '../secrets.js';
import { failureFactsOf, StorageNetworkError } from '../storage/http.js';
import { timestampMs } from '../storage/parse.js';
import type {
  MintedToken,
  TokenApi,
  TokenCreateBody,
  VerifiedToken,
} from '../storage/token-api.js';
import type { StorageClient } from '../storage/types.js';
import {
  ConfigFolderError,
  ConfigTooDeepError,
  renderConfig,
  type ConfigText,
  type ConfigWrite,
} from './config-file.js';
import {
  destinationBucketConflict,
  readTokenEndpoint,
  tokenKeyOf,
  tokenPlaceProblem,
  tokenSection,
  withToken,
  type TokenEndpoint,
} from './config-token.js';
import {
  buildCreateBody,
  buildInspectReport,
  checkCreatorToken,
  formatInspectReport,
  judgeToken,
  lastActivity,
  parseExpiresIn,
  type InspectReport,
  type LastActivity,
  type TokenRole,
  type TokenVerdict,
} from './rules.js';

export type TokenCommand =
  | {
      readonly action: 'create';
      /** Required; checked by the command so that `--help` works without it. */
      readonly bucket: string | undefined;
      readonly expiresIn: string | undefined;
      readonly description: string | undefined;
      readonly write: boolean;
      readonly destination: boolean;
      readonly region: string | undefined;
      readonly url: string | undefined;
      readonly writeConfig: string | undefined;
    }
  | {
      readonly action: 'inspect';
      readonly data: string | undefined;
      readonly destination: boolean;
      readonly json: boolean;
    }
  | { readonly action: 'rotate'; readonly data: string | undefined; readonly destination: boolean }
  | {
      readonly action: 'revoke';
      readonly data: string | undefined;
      readonly destination: boolean;
      readonly yes: boolean;
    };

export interface TokenCommandDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly masker: SecretMasker;
  readonly openTokenApi: (url: string, token: string) => TokenApi;
  readonly openStorage: (url: string, token: string) => StorageClient;
  /** The data folder for `--data` (the same rule as a run). */
  readonly resolveDataDir: (cliData: string | undefined) => string;
  /** Parsed `<dir>/config.json`. @throws UserError naming the file */
  readonly readConfig: (dataDir: string) => Promise<ConfigFile>;
  /**
   * The new file for an atomic write of `<dir>/config.json`, created at once, so a folder that
   * does not take one is known before anything is created or refreshed.
   * @throws ConfigFolderError naming the folder
   */
  readonly prepareConfigWrite: (dataDir: string) => Promise<ConfigWrite>;
  /**
   * Takes the run lock of a data folder (docs/locking.md) at once.
   * @throws LockHeldError when a run holds it; an fs error when out/ cannot be written
   */
  readonly lockDataDir: (
    dataDir: string,
  ) => Promise<{ release(): Promise<void>; readonly lost: AbortSignal }>;
  /** Whether the path is an existing folder. */
  readonly isFolder: (path: string) => Promise<boolean>;
  /** Writes a token string alone on its line to stdout: the one unmasked output. */
  readonly printSecret: (token: string) => void;
  /** A document on stdout (masked). */
  readonly out: (text: string) => void;
  /** A line on stderr (masked). */
  readonly say: (line: string) => void;
  readonly nowMs: () => number;
  /** Aborted on SIGTERM/SIGINT, with the signal's name as the reason; the token API listens too. */
  readonly signal: AbortSignal;
  /**
   * Runs `work` to its end even after a stop signal: the process is not forced to exit while it
   * runs, though a second signal still ends it at once, with `ifCutShort` (masked) on stderr.
   */
  readonly deferStop: <T>(work: () => Promise<T>, ifCutShort: string) => Promise<T>;
}

/** How many of its newest events a token's last activity is taken from. */
const ACTIVITY_EVENTS = 5;

/** Runs one `token` command; returns the exit code or throws a UserError (exit 1). */
export async function runTokenCommand(
  command: TokenCommand,
  deps: TokenCommandDeps,
): Promise<number> {
  switch (command.action) {
    case 'create':
      return createToken(command, deps);
    case 'inspect':
      return inspectToken(command, deps);
    case 'rotate':
      return rotateToken(command, deps);
    case 'revoke':
      return revokeToken(command, deps);
  }
}

// ---- create -------------------------------------------------------------------------------------

type CreateCommand = Extract<TokenCommand, { action: 'create' }>;

/** What `token create` asks for, once its flags and `KBC_MASTER_TOKEN` are checked. */
interface CreateRequest {
  readonly master: string;
  readonly bucket: string;
  /** The key the token is for: the source or the destination. */
  readonly role: TokenRole;
  readonly permission: 'read' | 'write';
  readonly expiresInSeconds: number | undefined;
}

/** How `token create --write-config` refuses a folder whose lock is held. */
const CREATE_LOCK_REFUSAL: LockRefusal = {
  command: 'token create --write-config',
  why: 'token create --write-config writes config.json only while no run, token rotate or token revoke holds that lock',
  nothingDone: 'nothing was created',
};

async function createToken(command: CreateCommand, deps: TokenCommandDeps): Promise<number> {
  const request = checkCreateRequest(command, deps);
  const dir = command.writeConfig;
  if (dir === undefined) {
    const url = createEndpointUrl(command, undefined, request.role);
    const creator = await openCreator(url, request, deps);
    const { minted } = await mintAndDeliver(creator, url, request, command, deps, (created) => {
      deps.printSecret(created.token);
      return Promise.resolve(true);
    });
    deps.say(
      `Created ${describeMinted(minted, request, deps)}. It passes the job's token rules; the token is on stdout.`,
    );
    endInterruptedIfStopped('is on stdout', deps);
    return 0;
  }
  // The lock creates what is missing of `out/`, the folder included: a folder that is not there
  // is refused first, leaving nothing behind.
  await requireFolder(dir, deps);
  return whileHolding(dir, CREATE_LOCK_REFUSAL, deps, (lockLost) =>
    createIntoConfig(dir, command, request, deps, lockLost),
  );
}

/**
 * The checks of `token create` that need no request: `KBC_MASTER_TOKEN`, `--bucket`, the flags.
 * @throws UserError naming the variable or the flag
 */
function checkCreateRequest(command: CreateCommand, deps: TokenCommandDeps): CreateRequest {
  const master = deps.env['KBC_MASTER_TOKEN']?.trim();
  if (!master) {
    throw new UserError(
      'Set the environment variable KBC_MASTER_TOKEN to a master token of the project: token create reads the creating token from there only.',
    );
  }
  deps.masker.add(master);
  if (!isHeaderText(master)) {
    throw new UserError(`KBC_MASTER_TOKEN ${UNSENDABLE}: set it again as plain text.`);
  }
  if (isBearerToken(master)) {
    throw new UserError(
      'KBC_MASTER_TOKEN is a Keboola Connection bearer token (kbc_pat_… or kbc_at_…), but token create needs a Storage API master token of the project: take one from Storage → API Tokens (or the project settings).',
    );
  }
  const bucket = command.bucket;
  if (!bucket) {
    throw new UserError('token create needs --bucket BUCKET: the one bucket the token may use.');
  }
  refuseWriteTokenInSourceKey(command);
  return {
    master,
    bucket,
    role: command.destination ? 'destination' : 'source',
    permission: command.write || command.destination ? 'write' : 'read',
    expiresInSeconds:
      command.expiresIn === undefined ? undefined : parseExpiresIn(command.expiresIn),
  };
}

/**
 * `token create --write-config DIR`, holding DIR's lock: the config is read, checked, and
 * replaced only by this command until the token is in it.
 */
async function createIntoConfig(
  dir: string,
  command: CreateCommand,
  request: CreateRequest,
  deps: TokenCommandDeps,
  lockLost: AbortSignal,
): Promise<number> {
  const { role, bucket } = request;
  const file = await readConfigIfAny(dir, deps);
  const config = file?.document;
  // Every `#` value of the config that receives the token is a secret before anything quotes it.
  deps.masker.addHashKeys(config);
  checkConfigTarget(dir, config, role, bucket, deps);
  const url = createEndpointUrl(command, config, role);
  const stack = { region: command.region, url: command.url };
  const text = renderOrRefuse(
    dir,
    (token) => withToken(config, role, token, stack, bucket),
    'nothing was created',
    file?.text,
  );
  const creator = await openCreator(url, request, deps);
  const replaced = await describeReplaced(config, role, url, deps);
  // Before the token exists: a folder that cannot take the new config.json is refused now.
  const write = await prepareWrite(dir, 'token create --write-config', 'nothing was created', deps);
  try {
    const { minted, delivered: written } = await mintAndDeliver(
      creator,
      url,
      request,
      command,
      deps,
      (created) =>
        writeTokenOrPrint(write, dir, text, role, created.token, deps, 'was created', lockLost),
    );
    if (!written) return 1;
    deps.say(
      `Created ${describeMinted(minted, request, deps)}. It passes the job's token rules and is in ${dir}/config.json (${tokenKeyOf(role)}).`,
    );
    if (replaced !== undefined) deps.say(replaced);
    endInterruptedIfStopped(`is in ${dir}/config.json (${tokenKeyOf(role)})`, deps);
    return 0;
  } finally {
    await write.discard();
  }
}

/**
 * The token API of `KBC_MASTER_TOKEN`, once it has verified itself as a master token that may
 * create the token and the bucket is there.
 * @throws UserError naming `KBC_MASTER_TOKEN` or the bucket
 */
async function openCreator(
  url: string,
  request: CreateRequest,
  deps: TokenCommandDeps,
): Promise<TokenApi> {
  const api = deps.openTokenApi(url, request.master);
  const creator = await api.verify().catch((error: unknown) => {
    throw explainMasterRejected(error, url);
  });
  checkCreatorToken(creator.details);
  await requireBucket(deps.openStorage(url, request.master), request.bucket, creator);
  return api;
}

/**
 * Creates the token, holds it to the job's rules (warning when it never expires) and hands it to
 * `deliver` (stdout, or config.json), returning what that returned. From the moment the create
 * request goes out until `deliver` has returned, a stop signal does not end the command: the
 * server may be creating the token, whose string it shows only once (docs/tokens.md, A stop
 * during token create).
 * @throws UserError naming the token when it may exist unseen, or the refusal
 */
async function mintAndDeliver<T>(
  creator: TokenApi,
  url: string,
  request: CreateRequest,
  command: CreateCommand,
  deps: TokenCommandDeps,
  deliver: (minted: MintedToken) => Promise<T>,
): Promise<{ readonly minted: MintedToken; readonly delivered: T }> {
  const body = buildCreateBody({
    bucketId: request.bucket,
    permission: request.permission,
    expiresInSeconds: request.expiresInSeconds,
    description: command.description,
    createdAt: new Date(deps.nowMs()),
  });
  const unseen = mayExistUnseen(body.description ?? '', url);
  return deps.deferStop(async () => {
    const minted = await postCreate(creator, body, request.bucket, unseen, deps);
    // A write token is a destination token: it is held to the destination rule, whatever key it goes to.
    const rule: TokenRole = request.permission === 'write' ? 'destination' : 'source';
    await verifyOrDelete(minted, deps.openTokenApi(url, minted.token), rule, request.bucket, deps);
    if (request.expiresInSeconds === undefined) {
      deps.say(
        'Warning: without --expires-in the token never expires, so a leaked copy works until it is revoked; next time give --expires-in 90d (or another duration) unless that is what you want.',
      );
    }
    return { minted, delivered: await deliver(minted) };
  }, `Stopped at once by a second signal while the token was being created: ${unseen}.`);
}

/**
 * `POST tokens`. A failure is told by what the server may have done: an unknown outcome (a 5xx
 * but 501, no answer within the request timeout, a lost answer) may have left a token nobody saw,
 * named by its description; after a stop signal, a request that never reached the server left
 * none; a refusal is its own error.
 * @throws UserError (an unseen token, a refusal) or InterruptedError (nothing created)
 */
async function postCreate(
  creator: TokenApi,
  body: TokenCreateBody,
  bucketId: string,
  unseen: string,
  deps: TokenCommandDeps,
): Promise<MintedToken> {
  try {
    return await creator.create(body);
  } catch (error) {
    if (!isStorageFailure(error)) throw explainCreateRejected(error, bucketId);
    const outcome = classifyFailure(failureFactsOf(error));
    const received = `Received ${String(deps.signal.reason)}`;
    if (outcome === 'unknown') {
      const what = deps.signal.aborted
        ? `${received} while the token was being created, and the create request then failed`
        : 'The create request failed with an unknown outcome';
      throw new UserError(`${what} (${messageOf(error)}): ${unseen}.`);
    }
    if (outcome === 'notReached' && deps.signal.aborted) {
      throw new InterruptedError(
        `${received} before the create request reached the Storage API (${messageOf(error)}): nothing was created.`,
      );
    }
    throw explainCreateRejected(error, bucketId);
  }
}

/** A Storage API answer or network failure: the retry policy can tell what the server may have done. */
function isStorageFailure(error: unknown): error is StorageApiError | StorageNetworkError {
  return error instanceof StorageApiError || error instanceof StorageNetworkError;
}

/**
 * The clause for a token whose creation may have happened unseen: named by the description it was
 * created with (its id was never known), with where to find and revoke it.
 */
function mayExistUnseen(description: string, url: string): string {
  return `a token described "${description}" may have been created, and its string was never shown: find it by that description in the project's API token settings (or in the list from curl -H "X-StorageApi-Token: $KBC_MASTER_TOKEN" ${url}/v2/storage/tokens), revoke it, and create another`;
}

/**
 * After a stop that came while the token was being created and delivered: the command ends as
 * interrupted (exit 2), saying that the token was created before the stop took effect.
 * @throws InterruptedError when the stop signal has fired
 */
function endInterruptedIfStopped(where: string, deps: TokenCommandDeps): void {
  if (!deps.signal.aborted) return;
  throw new InterruptedError(
    `Received ${String(deps.signal.reason)} while the token was being created; it was created before the stop took effect and ${where}.`,
  );
}

function describeMinted(
  minted: MintedToken,
  request: CreateRequest,
  deps: TokenCommandDeps,
): string {
  return `token ${minted.details.id} "${minted.details.description}": ${request.permission} on ${request.bucket}, ${describeExpiry(minted.details.expires, deps.nowMs())}`;
}

/**
 * What the token about to be written replaces, checked with tokens/verify (never shown): a
 * replaced token stays valid, so the sentence names it and how to revoke it. Undefined when the
 * key holds no token. A failed check never stops the command.
 */
async function describeReplaced(
  config: unknown,
  role: TokenRole,
  createUrl: string,
  deps: TokenCommandDeps,
): Promise<string | undefined> {
  const old = configuredTokenString(config, role);
  if (old === undefined) return undefined;
  deps.masker.add(old);
  const key = tokenKeyOf(role);
  if (!isHeaderText(old)) return `The value it replaced in ${key} was not a token.`;
  const url = configuredUrl(config, role) ?? createUrl;
  try {
    const { details } = await deps.openTokenApi(url, old).verify();
    if (details.isMasterToken) {
      return `It replaced the master token ${details.id} "${details.description}" in ${key}, which still works; master tokens cannot be deleted.`;
    }
    return `It replaced the token ${details.id} "${details.description}" in ${key}, which still works: once no run uses it, revoke it with ${revokeCommand(url, details.id)}`;
  } catch (error) {
    if (error instanceof StorageApiError && error.details.status < 500) {
      return `The value it replaced in ${key} is not a working token at ${url} (tokens/verify answered ${error.details.status}).`;
    }
    return `It replaced a token in ${key} that could not be checked (${messageOf(error)}): if it still works, revoke it in the project's API token settings.`;
  }
}

/** The command that revokes token `tokenId` with the creating token (never its value). */
function revokeCommand(url: string, tokenId: string): string {
  return `curl -X DELETE -H "X-StorageApi-Token: $KBC_MASTER_TOKEN" ${url}/v2/storage/tokens/${tokenId}`;
}

/** The string at the role's `#token` key, when there is one. */
function configuredTokenString(config: unknown, role: TokenRole): string | undefined {
  const section = tokenSection(config, role);
  const value = isPlainObject(section) ? own(section, '#token') : undefined;
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** The stack the config names for the role's token, when it names one validly. */
function configuredUrl(config: unknown, role: TokenRole): string | undefined {
  try {
    return readTokenEndpoint(config, role).url;
  } catch {
    return undefined;
  }
}

/**
 * `--write` picks the permission and `--destination` the key: with `--write-config` alone, a write
 * token would land in the source key, fail the source rule at the next run, and leave the replaced
 * read token alive. Not implied, so a mistyped command never edits the destination section.
 * @throws UserError naming the flags
 */
function refuseWriteTokenInSourceKey(command: CreateCommand): void {
  if (!command.write || command.destination || command.writeConfig === undefined) return;
  throw new UserError(
    '--write with --write-config would put a write token into parameters.#token, where the source token must be read-only: add --destination to write parameters.destination.#token, or drop --write.',
  );
}

/** @throws UserError naming the flag when the `--write-config` folder is not there */
async function requireFolder(dir: string, deps: TokenCommandDeps): Promise<void> {
  if (await deps.isFolder(dir)) return;
  throw new UserError(
    `--write-config ${JSON.stringify(dir)} is not an existing folder: create it, or give the data folder that holds config.json.`,
  );
}

/**
 * Refuses, before a token is created, a config.json the token could only be written into by
 * dropping what it holds, and a destination section whose `bucket` is not `--bucket` (the token
 * could not write there, and changing where a config copies to is not this command's call). A
 * `bucket` that is not a string, or that holds a `#` value or a token, is named by its type,
 * never quoted.
 * @throws UserError naming the file or the key
 */
function checkConfigTarget(
  dir: string,
  config: unknown,
  role: TokenRole,
  bucketId: string,
  deps: TokenCommandDeps,
): void {
  const problem = tokenPlaceProblem(config, role);
  if (problem !== undefined) {
    throw new UserError(
      `${dir}/config.json ${problem}: writing the token there would drop it, so nothing was created; fix the file or choose another folder.`,
    );
  }
  const configured = destinationBucketConflict(config, role, bucketId);
  if (configured === undefined) return;
  // The masker already knows every `#` value of this config (registered when it was read).
  const hidden = typeof configured === 'string' && deps.masker.reveals(configured);
  if (typeof configured !== 'string' || hidden) {
    // Shown by its type only: a list or an object may hold anything, a secret included.
    const what = hidden ? 'a hidden value' : describeJsonType(configured);
    throw new UserError(
      `parameters.destination.bucket of ${dir}/config.json is ${what}, not the bucket id ${JSON.stringify(bucketId)}: a token for ${JSON.stringify(bucketId)} could not write there, so nothing was created; set it to ${JSON.stringify(bucketId)} or remove it first.`,
    );
  }
  const shown = JSON.stringify(configured);
  throw new UserError(
    `--bucket ${JSON.stringify(bucketId)} is not the parameters.destination.bucket ${shown} of ${dir}/config.json: a token for ${JSON.stringify(bucketId)} could not write there, so nothing was created; give --bucket ${shown}, or change parameters.destination.bucket first.`,
  );
}

async function readConfigIfAny(
  dir: string,
  deps: TokenCommandDeps,
): Promise<ConfigFile | undefined> {
  try {
    return await deps.readConfig(dir);
  } catch (error) {
    // A folder without config.json gets a new one; any other problem stops before anything is
    // created.
    if (error instanceof ConfigMissingError) return undefined;
    throw error;
  }
}

/**
 * `--url`/`--region`, else the url/region of the config that will receive the token. When both
 * name a stack they must be the same one: the token would be made on one stack and written next
 * to the other, where it cannot work.
 * @throws UserError naming the flags or the file, and both stacks when they differ
 */
function createEndpointUrl(command: CreateCommand, config: unknown, role: TokenRole): string {
  const fromFlags = command.url !== undefined || command.region !== undefined;
  const section = tokenSection(config, role);
  const path = role === 'source' ? ['parameters'] : ['parameters', 'destination'];
  const configured = isPlainObject(section)
    ? { region: own(section, 'region'), url: own(section, 'url') }
    : {};
  const names = configured.region !== undefined || configured.url !== undefined;
  const file = `${command.writeConfig ?? ''}/config.json`;
  const sectionUrl = names ? resolveStack(configured, path, file, config) : undefined;
  if (!fromFlags) {
    if (sectionUrl !== undefined) return sectionUrl;
    throw new UserError(
      'Give the stack with --region or --url (or use --write-config DIR whose config.json names the region or url).',
    );
  }
  const flagUrl = resolveStack(
    { region: command.region, url: command.url },
    [],
    '--region/--url',
    config,
  );
  if (sectionUrl === undefined || sameStack(flagUrl, sectionUrl)) return flagUrl;
  const flag = command.region !== undefined ? `--region ${command.region}` : '--url';
  const key = `${path.join('.')}.${configured.region !== undefined ? 'region' : 'url'}`;
  throw new UserError(
    `${flag} names the stack ${flagUrl}, but ${key} of ${file} names ${sectionUrl}: the token would be created on one stack and written next to the other, so nothing was created; drop --region/--url to use the config's stack, or change the config first.`,
  );
}

/**
 * The Storage API URL a `region`/`url` pair names.
 * @throws UserError naming `where` and the problems
 */
function resolveStack(
  source: { readonly region?: unknown; readonly url?: unknown },
  path: readonly string[],
  where: string,
  config: unknown,
): string {
  const problems = new Problems(hashValues(config));
  const region = readRegion(source.region, [...path, 'region'], problems);
  const url = resolveEndpointUrl(
    region,
    readUrl(source.url, [...path, 'url'], problems),
    [...path],
    problems,
  );
  if (url === BAD || problems.count > 0) {
    throw new UserError(`Invalid stack in ${where}: ${problems.lines.join('; ')}`);
  }
  return url;
}

/** Whether two Storage API URLs are one stack: the same URL, or the same region's host. */
function sameStack(a: string, b: string): boolean {
  if (a === b) return true;
  const region = regionForUrl(a);
  return region !== undefined && region.id === regionForUrl(b)?.id;
}

/**
 * @throws UserError naming the bucket when it does not exist, and `KBC_MASTER_TOKEN` when it may
 *   not read the bucket (403)
 */
async function requireBucket(
  master: StorageClient,
  bucketId: string,
  creator: VerifiedToken,
): Promise<void> {
  const found = await master.findBucket(bucketId).catch((error: unknown) => {
    if (error instanceof StorageApiError && error.details.status === 403) {
      throw new UserError(
        `KBC_MASTER_TOKEN lacks read access to the bucket "${bucketId}" in the project "${creator.info.owner.name}" (${creator.info.owner.id}) (the bucket's detail answered 403), so nothing was created: use the master token of an admin or share user of the project that holds the bucket.`,
      );
    }
    throw error;
  });
  if (found) return;
  throw new UserError(
    `The bucket "${bucketId}" does not exist in the project "${creator.info.owner.name}" (${creator.info.owner.id}): check --bucket against the project's buckets.`,
  );
}

function explainMasterRejected(error: unknown, url: string): unknown {
  if (!(error instanceof StorageApiError)) return error;
  if (error.details.status === HEADER_TOO_LARGE) {
    return new UserError(
      `KBC_MASTER_TOKEN is too long to be sent (tokens/verify answered ${HEADER_TOO_LARGE}, request header too large): set it to the master token itself, nothing else.`,
    );
  }
  if (error.details.status !== 401) return error;
  return new UserError(
    `KBC_MASTER_TOKEN is unknown, expired or revoked at ${url} (tokens/verify answered 401): set a valid master token of the project, or check --region/--url if it belongs to another stack.`,
  );
}

function explainCreateRejected(error: unknown, bucketId: string): unknown {
  if (!(error instanceof StorageApiError)) return error;
  if (error.details.code === 'storage.tokens.invalidPermissions') {
    return new UserError(
      `The Storage API refused the permission on the bucket "${bucketId}" (storage.tokens.invalidPermissions): check that the bucket exists.`,
    );
  }
  if (error.details.status === 403) {
    return new UserError(
      'KBC_MASTER_TOKEN may not create tokens (tokens answered 403): use the master token of an admin or share user.',
    );
  }
  return error;
}

/**
 * Checks the new token with the job's own rules, as a run would. A token that fails them is
 * deleted (it can delete itself) so no unusable token is left behind. When the check or the
 * delete fails, the token exists but its string was never shown: the sentence names its id and
 * says to revoke it.
 * @throws UserError naming the token's id
 */
async function verifyOrDelete(
  minted: MintedToken,
  api: TokenApi,
  role: TokenRole,
  bucketId: string,
  deps: TokenCommandDeps,
): Promise<void> {
  const id = minted.details.id;
  const revoke = `revoke it in the project's API token settings (or with ${revokeCommand(api.url, id)}) and create another`;
  let verdict: TokenVerdict;
  try {
    verdict = judgeToken(await verifyEvenAfterStop(api, deps), role, {
      nowMs: deps.nowMs(),
      destinationBucket: bucketId,
    });
  } catch (error) {
    throw new UserError(
      `The new token ${id} was created but could not be checked (${messageOf(error)}), so its string is not shown: ${revoke}.`,
    );
  }
  if (verdict.passes) {
    for (const warning of verdict.warnings) deps.say(`Warning: ${warning}`);
    return;
  }
  try {
    await api.remove(id, deps.signal.aborted ? { afterStop: true } : undefined);
  } catch (error) {
    throw new UserError(
      `The new token ${id} could not be deleted after it failed the job's token rules (${messageOf(error)}), so its string is not shown: ${revoke}; the rules said: ${verdict.error ?? ''}`,
    );
  }
  throw new UserError(
    `The new token ${id} failed the job's token rules and was deleted again: ${verdict.error ?? ''}`,
  );
}

/**
 * `tokens/verify` of a new token, made even after a stop signal: once bounded (about 1 s) when
 * the signal came before it, and again so when it came during it.
 */
async function verifyEvenAfterStop(api: TokenApi, deps: TokenCommandDeps): Promise<VerifiedToken> {
  if (deps.signal.aborted) return api.verify({ afterStop: true });
  try {
    return await api.verify();
  } catch (error) {
    if (deps.signal.aborted) return api.verify({ afterStop: true });
    throw error;
  }
}

// ---- inspect ------------------------------------------------------------------------------------

async function inspectToken(
  command: Extract<TokenCommand, { action: 'inspect' }>,
  deps: TokenCommandDeps,
): Promise<number> {
  const { endpoint, role } = await configuredToken(
    deps.resolveDataDir(command.data),
    command,
    deps,
  );
  const api = deps.openTokenApi(endpoint.url, endpoint.token);
  const verified = await verifyConfigured(api, role);
  const activity = await readLastActivity(api, verified.details.id);
  const verdict = judgeConfigured(verified, role, endpoint, deps);
  const report = buildInspectReport(verified, activity, verdict, role, deps.nowMs());
  deps.out(command.json ? `${jsonDocument(report)}\n` : formatInspectReport(report));
  return 0;
}

/**
 * The newest of the token's own events (its last activity); null when it has none or the events
 * cannot be read (an older stack): a missing figure never fails a command or a sync action.
 */
export async function readLastActivity(
  api: Pick<TokenApi, 'events'>,
  tokenId: string,
): Promise<LastActivity | null> {
  try {
    return lastActivity(await api.events(tokenId, ACTIVITY_EVENTS));
  } catch (error) {
    if (error instanceof StorageApiError && error.details.status < 500) return null;
    throw error;
  }
}

// ---- rotate -------------------------------------------------------------------------------------

async function rotateToken(
  command: Extract<TokenCommand, { action: 'rotate' }>,
  deps: TokenCommandDeps,
): Promise<number> {
  const dataDir = deps.resolveDataDir(command.data);
  // The lock creates out/ if missing: a folder without config.json (a mistyped --data) must fail
  // on that first, leaving nothing behind.
  await deps.readConfig(dataDir);
  return whileHolding(dataDir, endsTokenRefusal('token rotate'), deps, (lockLost) =>
    rotateLocked(dataDir, command, deps, lockLost),
  );
}

async function rotateLocked(
  dataDir: string,
  command: Extract<TokenCommand, { action: 'rotate' }>,
  deps: TokenCommandDeps,
  lockLost: AbortSignal,
): Promise<number> {
  const { raw, text: configText, endpoint, role } = await configuredToken(dataDir, command, deps);
  const text = renderOrRefuse(
    dataDir,
    (token) => withToken(raw, role, token),
    'nothing was refreshed',
    configText,
  );
  const api = deps.openTokenApi(endpoint.url, endpoint.token);
  const verified = await verifyConfigured(api, role);
  if (verified.details.isMasterToken) {
    // A refresh would end the admin's master token everywhere it is used, and the job refuses
    // master tokens anyway.
    throw new UserError(
      `Refusing to rotate the ${role} token ${verified.details.id} from ${dataDir}/config.json: it is a master token; create a limited one with "kbc-table-sync token create" instead.`,
    );
  }
  // From the refresh on, the new string must reach config.json or the user: a folder that cannot
  // take the new file is found now, while the old string still works.
  const write = await prepareWrite(dataDir, 'token rotate', 'nothing was refreshed', deps);
  try {
    const minted = await refreshConfigured(api, verified.details.id, dataDir, role, deps);
    const written = await writeTokenOrPrint(
      write,
      dataDir,
      text,
      role,
      minted.token,
      deps,
      'was refreshed',
      lockLost,
    );
    if (!written) return 1;
    const fresh = await deps.openTokenApi(endpoint.url, minted.token).verify();
    const verdict = judgeConfigured(fresh, role, endpoint, deps);
    deps.say(
      `Rotated token ${minted.details.id} "${minted.details.description}": ${dataDir}/config.json (${tokenKeyOf(role)}) holds the new token, which works; the old one no longer does.`,
    );
    return reportVerdict(verdict, deps);
  } finally {
    await write.discard();
  }
}

/**
 * `POST tokens/{id}/refresh` of the configured token. A failure the server surely did not act on
 * is thrown as it is; a 401 means the token was dead already; any other failure (a 5xx, a lost
 * answer, the stop signal) has an unknown outcome, which the old string's state then tells
 * (docs/tokens.md, token rotate).
 * @throws UserError naming the key and how to recover, or the refusal itself
 */
async function refreshConfigured(
  api: TokenApi,
  tokenId: string,
  dataDir: string,
  role: TokenRole,
  deps: TokenCommandDeps,
): Promise<MintedToken> {
  try {
    return await api.refresh(tokenId);
  } catch (error) {
    const key = `${tokenKeyOf(role)} of ${dataDir}/config.json`;
    if (isUnauthorized(error)) {
      throw new UserError(
        `The ${role} token in ${key} stopped working before it could be refreshed (refresh answered 401): create a new one with "kbc-table-sync token create".`,
      );
    }
    if (surelyNotApplied(error)) throw error;
    throw await explainUnknownRefresh(error, api, key, role, deps);
  }
}

/** The one sentence for a refresh whose outcome is unknown, after checking the old string. */
async function explainUnknownRefresh(
  error: unknown,
  api: TokenApi,
  key: string,
  role: TokenRole,
  deps: TokenCommandDeps,
): Promise<UserError> {
  const what = deps.signal.aborted
    ? `The refresh of the ${role} token was cut short by ${String(deps.signal.reason)}`
    : `The refresh of the ${role} token failed with an unknown outcome (${messageOf(error)})`;
  const create = 'create a new one with "kbc-table-sync token create"';
  switch (await oldStringState(api, deps)) {
    case 'works':
      return new UserError(
        `${what}; it did not happen: the token in ${key} still works and nothing was changed, so running token rotate again is safe.`,
      );
    case 'dead':
      return new UserError(
        `${what}; it did happen: the token in ${key} no longer works and its new string is lost, so ${create}.`,
      );
    case 'unknown':
      return new UserError(
        `${what}, and whether it happened could not be checked: if the token in ${key} now gets 401 (token inspect), it was refreshed and its new string is lost; ${create}.`,
      );
  }
}

/** A 401: the token string does not work (the client names it revoked once it had worked). */
function isUnauthorized(error: unknown): boolean {
  return (
    error instanceof TokenRevokedError ||
    (error instanceof StorageApiError && error.details.status === 401)
  );
}

/**
 * Whether the server surely did not act on a failed refresh: it refused it (a 4xx, 501) or the
 * request never reached it (the retry policy's `notReached`).
 */
function surelyNotApplied(error: unknown): boolean {
  if (error instanceof StorageApiError) return classifyFailure(failureFactsOf(error)) !== 'unknown';
  return (
    error instanceof StorageNetworkError && classifyFailure(failureFactsOf(error)) === 'notReached'
  );
}

/**
 * Whether the configured (old) string still works after a refresh with an unknown outcome:
 * `works` (200: not refreshed), `dead` (401: refreshed) or `unknown`. After the stop signal the
 * check goes out once, bounded, so the process still ends within its grace time; a stop that comes
 * during the check makes it that bounded check.
 */
async function oldStringState(
  api: TokenApi,
  deps: TokenCommandDeps,
): Promise<'works' | 'dead' | 'unknown'> {
  const stoppedBefore = deps.signal.aborted;
  try {
    await api.verify(stoppedBefore ? { afterStop: true } : undefined);
    return 'works';
  } catch (error) {
    if (isUnauthorized(error)) return 'dead';
    if (!stoppedBefore && deps.signal.aborted) return oldStringState(api, deps);
    return 'unknown';
  }
}

// ---- revoke -------------------------------------------------------------------------------------

async function revokeToken(
  command: Extract<TokenCommand, { action: 'revoke' }>,
  deps: TokenCommandDeps,
): Promise<number> {
  const dataDir = deps.resolveDataDir(command.data);
  // Only --yes ends the token; without it nothing changes, so a run in progress may go on.
  if (!command.yes) return revokeLocked(dataDir, command, deps);
  await deps.readConfig(dataDir);
  return whileHolding(dataDir, endsTokenRefusal('token revoke'), deps, () =>
    revokeLocked(dataDir, command, deps),
  );
}

async function revokeLocked(
  dataDir: string,
  command: Extract<TokenCommand, { action: 'revoke' }>,
  deps: TokenCommandDeps,
): Promise<number> {
  const { endpoint, role } = await configuredToken(dataDir, command, deps);
  const api = deps.openTokenApi(endpoint.url, endpoint.token);
  const verified = await verifyConfigured(api, role);
  const d = verified.details;
  const what = `the ${role} token ${d.id} "${d.description}" of the project "${verified.info.owner.name}" (${verified.info.owner.id}) from ${dataDir}/config.json`;
  if (d.isMasterToken) {
    throw new UserError(
      `Refusing to revoke ${what}: it is a master token, which cannot be deleted.`,
    );
  }
  if (!command.yes) {
    deps.say(
      `Would revoke ${what}: runs with it will fail until a new token is configured. Run again with --yes to revoke it.`,
    );
    return 1;
  }
  await api.remove(d.id).catch((error: unknown) => {
    // The token deletes itself: a DELETE retried after its first answer was lost gets 401, which
    // the client reports as the token revoked mid-run. Either way the token no longer works.
    if (error instanceof TokenRevokedError) return;
    throw error;
  });
  deps.say(
    `Revoked ${what}. It no longer works; create a new one with "kbc-table-sync token create".`,
  );
  return 0;
}

// ---- shared -------------------------------------------------------------------------------------

async function configuredToken(
  dataDir: string,
  command: { readonly destination: boolean },
  deps: TokenCommandDeps,
): Promise<{ raw: unknown; text: string; endpoint: TokenEndpoint; role: TokenRole }> {
  const { document: raw, text } = await deps.readConfig(dataDir);
  deps.masker.addHashKeys(raw);
  const role: TokenRole = command.destination ? 'destination' : 'source';
  const endpoint = readTokenEndpoint(raw, role);
  deps.masker.add(endpoint.token);
  return { raw, text, endpoint, role };
}

/** How a command that needs the data folder's lock refuses it while another holds it. */
interface LockRefusal {
  /** The command, for a folder that cannot be locked. */
  readonly command: string;
  /** Why it waits for the holder. */
  readonly why: string;
  /** What was (not) done, e.g. `nothing was changed`. */
  readonly nothingDone: string;
}

/** The refusal of a command that ends the configured token. */
function endsTokenRefusal(command: string): LockRefusal {
  return {
    command,
    why: `${command} would end the token that run uses`,
    nothingDone: 'nothing was changed',
  };
}

/**
 * Runs `work` holding the data folder's run lock (docs/locking.md). `token rotate` and `token
 * revoke --yes` end the configured token, and a run in progress would then fail with 401 halfway
 * (docs/tokens.md); the lock also keeps a run from starting with the old string while it dies.
 * `token create --write-config` and `token rotate` replace config.json, and the lock keeps either
 * from writing over what the other wrote since it read the file.
 * @throws UserError naming the folder when another holds it or out/ cannot be written
 */
async function whileHolding(
  dataDir: string,
  refusal: LockRefusal,
  deps: TokenCommandDeps,
  work: (lockLost: AbortSignal) => Promise<number>,
): Promise<number> {
  const lock = await deps.lockDataDir(dataDir).catch((error: unknown) => {
    if (error instanceof LockHeldError) {
      throw new UserError(
        `A run holds the lock on the data folder ${dataDir} (${error.holder}): ${refusal.why}, so ${refusal.nothingDone}; run it again when the run has finished.`,
      );
    }
    throw (
      describeFsError(
        error,
        `${refusal.command} could not lock the data folder ${dataDir} (out/${LOCK_DIR_NAME})`,
      ) ?? error
    );
  });
  try {
    return await work(lock.lost);
  } finally {
    await lock.release();
  }
}

async function verifyConfigured(api: TokenApi, role: TokenRole): Promise<VerifiedToken> {
  return api.verify().catch((error: unknown) => {
    throw explainRejectedToken(error, role, api.url);
  });
}

function judgeConfigured(
  verified: VerifiedToken,
  role: TokenRole,
  endpoint: TokenEndpoint,
  deps: TokenCommandDeps,
): TokenVerdict {
  return judgeToken(verified, role, {
    nowMs: deps.nowMs(),
    configuredRegion: endpoint.region,
    destinationBucket: endpoint.bucket,
  });
}

function reportVerdict(verdict: TokenVerdict, deps: TokenCommandDeps): number {
  for (const warning of verdict.warnings) deps.say(`Warning: ${warning}`);
  if (verdict.passes) return 0;
  deps.say(`The token fails the job's token rules: ${verdict.error ?? ''}`);
  return 1;
}

/**
 * The new file for `<dataDir>/config.json`, made before anything is created or refreshed.
 * @throws UserError naming the file, the folder and the permission when the folder does not
 *   take a new file
 */
async function prepareWrite(
  dataDir: string,
  command: string,
  nothingDone: string,
  deps: TokenCommandDeps,
): Promise<ConfigWrite> {
  try {
    return await deps.prepareConfigWrite(dataDir);
  } catch (error) {
    if (!(error instanceof ConfigFolderError)) throw error;
    throw (
      describeFsError(
        error.cause,
        `${command} replaces ${dataDir}/config.json by renaming a new file over it, and the folder ${error.folder} does not take a new file, so ${nothingDone}`,
      ) ?? error
    );
  }
}

/**
 * config.json's text for the document `documentFor` builds around the new token, serialised
 * before the token exists: a document the write could not serialise is refused now.
 * @throws UserError naming the file and the path to its deepest value when it nests too deep
 */
function renderOrRefuse(
  dataDir: string,
  documentFor: (token: string) => unknown,
  nothingDone: string,
  existingText?: string,
): ConfigText {
  try {
    return renderConfig(documentFor, existingText);
  } catch (error) {
    if (!(error instanceof ConfigTooDeepError)) throw error;
    const document = documentFor('');
    const { depth, path } = deepestNesting(document);
    // Keys are shown as a config problem shows them: one that contains a `#` value is hidden.
    const under =
      path.length === 0 ? '' : ` (under ${new Problems(hashValues(document)).formatPath(path)})`;
    throw new UserError(
      `${dataDir}/config.json nests arrays and objects ${depth} levels deep${under}, too deep to be written back with the new token, so ${nothingDone}; flatten or remove that value first.`,
    );
  }
}

/**
 * Puts the new token into config.json's text (rendered before the token existed) and that into
 * `<dir>/config.json` through the prepared file, unless the folder's lock was lost meanwhile:
 * then another run may be using the folder (docs/locking.md), and a config.json replaced under it
 * could lose that run's changes or hand it a token it did not start with.
 * When the token is not written it is printed on stdout as the only copy, with a sentence saying
 * so, and false is returned (exit 1).
 */
async function writeTokenOrPrint(
  write: ConfigWrite,
  dataDir: string,
  text: ConfigText,
  role: TokenRole,
  token: string,
  deps: TokenCommandDeps,
  what: string,
  lockLost: AbortSignal,
): Promise<boolean> {
  const failure = lockLost.aborted
    ? 'the lock on the data folder was lost, so another run may be using it'
    : await commitOrFailure(write, text.withToken(token));
  if (failure === undefined) return true;
  deps.printSecret(token);
  deps.say(
    `The token ${what}, but ${dataDir}/config.json could not be written (${failure}): the new token printed on stdout is the only copy${what === 'was refreshed' ? ' and the old one no longer works' : ''}; put it into ${tokenKeyOf(role)} yourself.`,
  );
  return false;
}

/** Commits the new config.json: undefined, or why it failed (an errno code or the message). */
async function commitOrFailure(write: ConfigWrite, text: string): Promise<string | undefined> {
  try {
    await write.commit(text);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException | undefined)?.code ?? messageOf(error);
  }
}

/**
 * The report as indented JSON with control and bidi characters of its strings as `\uXXXX` escapes
 * (JSON.stringify leaves bidi and C1 characters raw): still valid JSON, with the same values.
 */
function jsonDocument(report: InspectReport): string {
  return JSON.stringify(report, null, 2)
    .split('\n')
    .map((line) => escapeJsonLine(line))
    .join('\n');
}

function describeExpiry(expires: string | null, nowMs: number): string {
  if (expires === null) return 'never expires';
  const leftMs = timestampMs(expires) - nowMs;
  if (!Number.isFinite(leftMs)) return `expires ${expires}`;
  // Storage still takes it (else verify would have failed): this machine's clock runs ahead.
  if (leftMs <= 0) return `expires ${expires} (already past by this machine's clock)`;
  return `expires ${expires} (in ${describeTimeLeft(leftMs)})`;
}
