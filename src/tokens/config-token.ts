/**
 * The token of a data folder's config.json, for the `token` commands (pure): read the source or
 * destination endpoint (`#token` plus `region`/`url`) without requiring the rest of a valid
 * config, and put a new token string into the document keeping every other key.
 */
import { ConfigError, UserError } from '../errors.js';
import { BAD, isPlainObject, own, readEndpoint } from '../config/fields.js';
import { Problems } from '../config/problems.js';
import { hashValues } from '../secrets.js';
import type { TokenRole } from './rules.js';

export interface TokenEndpoint {
  readonly url: string;
  readonly token: string;
  readonly region?: string;
  /** `parameters.destination.bucket`, when reading the destination. */
  readonly bucket?: string;
}

/** `parameters.#token` or `parameters.destination.#token`. */
export function tokenKeyOf(role: TokenRole): string {
  return role === 'source' ? 'parameters.#token' : 'parameters.destination.#token';
}

/**
 * The endpoint of `role` in a parsed config.json.
 * @throws ConfigError listing every problem as `parameters.path: what is wrong`
 */
export function readTokenEndpoint(raw: unknown, role: TokenRole): TokenEndpoint {
  const problems = new Problems(hashValues(raw));
  const path = role === 'source' ? ['parameters'] : ['parameters', 'destination'];
  const object = tokenSection(raw, role);
  const parameters = isPlainObject(raw) ? own(raw, 'parameters') : undefined;
  if (role === 'destination' && isPlainObject(parameters) && object === undefined) {
    throw new UserError(
      'The config has no parameters.destination (it copies into out/tables): drop --destination, or add a destination with "#token", "bucket" and "region" or "url".',
    );
  }
  if (!isPlainObject(object)) {
    throw new ConfigError([
      `${path.join('.')}: must be an object with "#token" and "region" or "url"`,
    ]);
  }
  if (own(object, '#token') === undefined && own(object, 'token') !== undefined) {
    throw new ConfigError([
      `${[...path, 'token'].join('.')}: is not a known key (did you mean "#token"?)`,
    ]);
  }
  const endpoint = readEndpoint(object, path, `${role} project`, problems);
  if (problems.count > 0 || endpoint === BAD) throw new ConfigError(problems.lines);
  const bucket = own(object, 'bucket');
  return { ...endpoint, ...(role === 'destination' && typeof bucket === 'string' && { bucket }) };
}

/**
 * The part of a config.json that holds `role`'s token: `parameters`, or `parameters.destination`;
 * undefined when `parameters` is not an object. Not checked further.
 */
export function tokenSection(raw: unknown, role: TokenRole): unknown {
  const parameters = isPlainObject(raw) ? own(raw, 'parameters') : undefined;
  if (!isPlainObject(parameters)) return undefined;
  return role === 'source' ? parameters : own(parameters, 'destination');
}

/** The stack a token was created on, as given by `--region`/`--url`. */
export interface TokenStack {
  readonly region?: string | undefined;
  readonly url?: string | undefined;
}

/**
 * A copy of the config document with the `role` token replaced (objects created when missing);
 * every other key and value is kept as it was. A section that names no stack (no `region`, no
 * `url`, e.g. a new config.json) also gets `stack`, so the token is usable where it is written;
 * a destination section without `bucket` (or with null) gets `destinationBucket` (the bucket the token was
 * made for), so a run and `token inspect --destination` can check it. An existing `bucket` is
 * never changed (see {@link destinationBucketConflict}).
 */
export function withToken(
  raw: unknown,
  role: TokenRole,
  token: string,
  stack: TokenStack = {},
  destinationBucket?: string,
): Record<string, unknown> {
  const root = isPlainObject(raw) ? { ...raw } : {};
  const parameters = isPlainObject(root.parameters) ? { ...root.parameters } : {};
  const existing = tokenSection(raw, role);
  const section = isPlainObject(existing) ? { ...existing } : {};
  section['#token'] = token;
  if (section.region === undefined && section.url === undefined) {
    if (stack.region !== undefined) section.region = stack.region;
    if (stack.url !== undefined) section.url = stack.url;
  }
  if (role === 'destination' && section.bucket == null && destinationBucket !== undefined) {
    section.bucket = destinationBucket;
  }
  root.parameters = role === 'source' ? section : { ...parameters, destination: section };
  return root;
}

/**
 * Why {@link withToken} could not place the token without dropping what the document holds: the
 * document, its `parameters` or (for a destination token) `parameters.destination` is there but
 * is not an object. Undefined when it can (a missing document or key is created).
 */
export function tokenPlaceProblem(raw: unknown, role: TokenRole): string | undefined {
  if (raw === undefined) return undefined;
  if (!isPlainObject(raw)) return 'is not a JSON object';
  const parameters = raw.parameters;
  if (parameters === undefined) return undefined;
  if (!isPlainObject(parameters)) return 'has a "parameters" that is not an object';
  const destination = parameters.destination;
  if (role === 'destination' && destination !== undefined && !isPlainObject(destination)) {
    return 'has a "parameters.destination" that is not an object (the table name of a row?)';
  }
  return undefined;
}

/**
 * The `parameters.destination.bucket` of the document when it is there and is not `bucketId`: a
 * destination token made for `bucketId` could not write to it. Undefined when the key is missing
 * or null (it gets `bucketId`), equal, or `role` is the source.
 */
export function destinationBucketConflict(
  raw: unknown,
  role: TokenRole,
  bucketId: string,
): unknown {
  if (role !== 'destination') return undefined;
  const section = tokenSection(raw, role);
  const bucket = isPlainObject(section) ? own(section, 'bucket') : undefined;
  // null counts as missing, as in a form that saved an empty field.
  return bucket === undefined || bucket === null || bucket === bucketId ? undefined : bucket;
}
