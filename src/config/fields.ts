/**
 * Readers for single configuration values: a zod schema gives the shape, a small named rule adds
 * what a schema cannot say well. Each reader reports its problems and returns the value, `undefined`
 * when the key is absent (or empty where empty means absent), or {@link BAD} when it is invalid.
 * Pure.
 */
import * as z from 'zod';
import { looksLikeToken } from '../secrets.js';
import { safeDecodeUri } from '../text/uri.js';
import { describeJsonType } from './changed-since.js';
import type { Path, Problems } from './problems.js';
import { regionChoices, regionForUrl, resolveRegion } from './regions.js';
import type { ProjectEndpoint, RegionId } from './types.js';

export const BAD: unique symbol = Symbol('bad config value');
export type Bad = typeof BAD;
export type Read<T> = T | undefined | Bad;

/** An own property of a plain object (never one inherited from `Object.prototype`). */
export function own(object: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Runs a schema; on failure reports every issue under `path` and returns {@link BAD}. */
function readWith<T>(
  schema: z.ZodType<T>,
  value: unknown,
  path: Path,
  problems: Problems,
): T | Bad {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    const issuePath = issue.path.filter((key) => typeof key !== 'symbol');
    problems.add([...path, ...issuePath], issue.message);
  }
  return BAD;
}

/** ex-storage read a null boolean as true; the job asks rather than guess. */
const NULL_FLAG_HINT = '; ex-storage read null as true';

/** Boolean; the ex-storage UI may also send 0 and 1. Strings such as "true" are rejected. */
const flagSchema = z
  .union([z.boolean(), z.literal(0), z.literal(1)], { error: (issue) => flagMessage(issue.input) })
  .transform((value) => value === true || value === 1);

function flagMessage(input: unknown): string {
  const quotedLiteral = typeof input === 'string' && /^\s*(true|false|0|1)\s*$/i.test(input);
  const hint = quotedLiteral ? ' (write it without quotes)' : input === null ? NULL_FLAG_HINT : '';
  return `must be true or false, not ${describeJsonType(input)}${hint}`;
}

/** A boolean with a default when absent. */
export function readFlag(
  value: unknown,
  fallback: boolean,
  path: Path,
  problems: Problems,
): boolean | Bad {
  return value === undefined ? fallback : readWith(flagSchema, value, path, problems);
}

/** A list of unique non-empty strings (`primaryKey`, `columns`). */
export function readNameList(
  value: unknown,
  what: string,
  path: Path,
  problems: Problems,
): Read<readonly string[]> {
  if (value === undefined) return undefined;
  const schema = z.array(
    z
      .string({ error: (issue) => `must be a ${what} name, not ${describeJsonType(issue.input)}` })
      .min(1, `must be a ${what} name, not an empty string`),
    {
      error: (issue) =>
        `must be a list of ${what} names such as ["id"], not ${describeJsonType(issue.input)}${
          issue.input === null ? '; ex-storage read null as []' : ''
        }`,
    },
  );
  const list = readWith(schema, value, path, problems);
  if (list === BAD) return BAD;
  const secret = list.filter((name, index) =>
    refuseSecretName(name, what, [...path, index], problems),
  );
  if (secret.length > 0) return BAD;
  return checkUnique(list, what, path, problems) ? list : BAD;
}

/**
 * Rule: a name never holds a secret of the config (a `#` value, or a token's secret part) and is
 * never shaped like a token: a name becomes a file name in out/tables, a manifest entry, a table
 * id or a state key, where no masker reaches (docs/configuration.md, Names). `endsUpIn` says
 * where this one goes. Reports the problem without showing the value; true when it did.
 */
export function refuseSecretName(
  name: string,
  what: string,
  path: Path,
  problems: Problems,
  endsUpIn = 'file names, manifests and state keys',
): boolean {
  if (!problems.holdsSecret(name) && !looksLikeToken(name)) return false;
  problems.add(
    path,
    `is a hidden value: it holds a secret of config.json (a "#" value, or the part of a token after its two ids) or looks like a token, and a ${what} name ends up in ${endsUpIn}; write the ${what} name here, and secrets only under "#" keys`,
  );
  return true;
}

/** Rule: no name is listed twice. */
function checkUnique(
  list: readonly string[],
  what: string,
  path: Path,
  problems: Problems,
): boolean {
  const seen = new Set<string>();
  let ok = true;
  list.forEach((name, index) => {
    if (seen.has(name)) {
      problems.add(
        [...path, index],
        `${problems.quote(name)} is listed twice; list each ${what} once`,
      );
      ok = false;
    }
    seen.add(name);
  });
  return ok;
}

/** A whole number from `min` to `max`; every problem says so (`must be <what>`). */
function wholeNumberSchema(min: number, max: number, what: string) {
  const message = `must be ${what}`;
  return z
    .number({
      error: (issue) => {
        const quoted = typeof issue.input === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(issue.input);
        return `${message}, not ${describeJsonType(issue.input)}${quoted ? ' (write it without quotes)' : ''}`;
      },
    })
    .int(message)
    .min(min, message)
    .max(max, message);
}

const parallelismSchema = wholeNumberSchema(1, 32, 'a whole number from 1 to 32');

/**
 * A cleared number field of the configuration form is saved as `""` (the form's number editor
 * gives an empty string), so `""` means "not set" here, as it does for the text fields
 * (docs/configuration.md, Developer Portal definition).
 */
function unsetIfEmpty(value: unknown): unknown {
  return value === '' ? undefined : value;
}

export function readParallelism(raw: unknown, path: Path, problems: Problems): Read<number> {
  const value = unsetIfEmpty(raw);
  return value === undefined ? undefined : readWith(parallelismSchema, value, path, problems);
}

const lagSecondsSchema = wholeNumberSchema(0, 86_400, 'a whole number of seconds from 0 to 86400');

export function readLagSeconds(raw: unknown, path: Path, problems: Problems): Read<number> {
  const value = unsetIfEmpty(raw);
  return value === undefined ? undefined : readWith(lagSecondsSchema, value, path, problems);
}

/** A string that must not be empty; `undefined` when absent. */
export function readString(
  value: unknown,
  example: string,
  path: Path,
  problems: Problems,
): Read<string> {
  if (value === undefined) return undefined;
  const schema = z
    .string({
      error: (issue) => `must be a string such as ${example}, not ${describeJsonType(issue.input)}`,
    })
    .min(1, `must not be empty; use a value such as ${example}`);
  return readWith(schema, value, path, problems);
}

/**
 * Whether a value can go into an HTTP header as it is: printable ASCII only. Node refuses control
 * characters and anything beyond Latin-1, and no token or run id has other characters, so an
 * invisible space, a bidi mark or a non-ASCII letter is a paste accident. Pure.
 */
export function isHeaderText(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

/** What {@link isHeaderText} refuses, for the sentence naming the key or variable. */
export const UNSENDABLE =
  'contains a character that cannot be sent in an HTTP header (a control, invisible, bidirectional or non-ASCII character, such as a pasted zero-width space)';

/**
 * Spaces and tabs around a token are dropped, as ex-storage's HTTP client dropped them from header
 * values (docs/configuration.md, Moving from ex-storage); a line break or a space inside stays an
 * error.
 */
const tokenSchema = z
  .string({
    error: (issue) =>
      `must be a string (the Storage API token), not ${describeJsonType(issue.input)}`,
  })
  .transform((token) => token.replace(/^[ \t]+|[ \t]+$/g, ''))
  .pipe(z.string())
  .refine((token) => token.length > 0, { error: 'must not be empty; set the Storage API token' })
  .refine((token) => !token.startsWith('KBC::'), {
    error: 'is still encrypted (KBC::...Secure::); outside Keboola give the plain token',
  })
  .refine((token) => !/\s/.test(token), {
    error: 'contains whitespace; paste the token without spaces or line breaks',
  })
  // Whitespace has its own sentence above; one problem per paste accident.
  .refine((token) => /\s/.test(token) || isHeaderText(token), {
    error: `${UNSENDABLE}; paste the token again as plain text`,
  })
  .refine((token) => !isBearerToken(token), {
    error:
      'is a Keboola Connection bearer token (kbc_pat_… or kbc_at_…), but the job needs a Storage API token: create one with "kbc-table-sync token create --bucket BUCKET" (see docs/tokens.md) or under Storage → API Tokens in the project',
  });

/** The programmatic bearer tokens (`kbc_pat_…` personal, `kbc_at_…` session) are not Storage API tokens. */
export function isBearerToken(token: string): boolean {
  return /^kbc_(pat|at)_/.test(token);
}

/** `#token`: required. Messages never contain its value. */
function readToken(value: unknown, what: string, path: Path, problems: Problems): Read<string> {
  if (value === undefined) {
    problems.add(path, `is required: set the Storage API token of the ${what}`);
    return BAD;
  }
  return readWith(tokenSchema, value, path, problems);
}

/** `region`: an id or alias; `""` counts as absent (the UI sends it for "custom URL"). */
export function readRegion(value: unknown, path: Path, problems: Problems): Read<RegionId> {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') {
    problems.add(
      path,
      `must be a string, one of ${regionChoices()}; not ${describeJsonType(value)}`,
    );
    return BAD;
  }
  const region = resolveRegion(value);
  if (region) return region.id;
  problems.add(
    path,
    `${problems.quote(value)} is not a known region; use one of ${regionChoices()}, or set "url" for a single-tenant stack`,
  );
  return BAD;
}

const URL_EXAMPLE = 'https://connection.keboola.com';

/**
 * `url`: https, or http for loopback hosts only; no credentials, query or fragment. Returns the
 * URL without a trailing slash. `""` counts as absent. The value itself is never echoed (it may
 * carry credentials).
 */
export function readUrl(value: unknown, path: Path, problems: Problems): Read<string> {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') {
    problems.add(path, `must be a string such as ${URL_EXAMPLE}, not ${describeJsonType(value)}`);
    return BAD;
  }
  const problem = urlProblem(value.trim());
  if (problem !== undefined) {
    problems.add(path, problem);
    return BAD;
  }
  // The stack URL is written where no masker reaches: the state file and the destination tables'
  // sync records (docs/sync-record.md). A token pasted into its path would end up there.
  if (problems.holdsSecret(value) || looksLikeToken(safeDecodeUri(value))) {
    problems.add(
      path,
      `is a hidden value: it holds a secret of config.json (a "#" value, or the part of a token after its two ids) or a token, and the stack URL is written into the state file and the destination tables' records; write the stack URL here, such as ${URL_EXAMPLE}, and the token only in "#token"`,
    );
    return BAD;
  }
  return normaliseUrl(new URL(value.trim()));
}

/** Rule: what is wrong with a Storage API URL, or undefined when it is usable. */
function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `is not a URL; use the stack URL such as ${URL_EXAMPLE}`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return `must start with https://, e.g. ${URL_EXAMPLE}`;
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not contain a user name or password; the token goes into "#token"';
  }
  if (url.search !== '' || url.hash !== '') {
    return `must not have a query or a fragment; use the stack URL such as ${URL_EXAMPLE}`;
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return 'must use https://; http:// is allowed only for a local emulator (127.0.0.1, localhost, [::1])';
  }
  return undefined;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function normaliseUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * Rule: one of `region`/`url` is given, and when both are, the URL is that region's stack.
 * Returns the endpoint URL, or BAD.
 */
export function resolveEndpointUrl(
  region: Read<RegionId>,
  url: Read<string>,
  path: Path,
  problems: Problems,
): string | Bad {
  if (region === BAD || url === BAD) return BAD;
  const regionUrl = region === undefined ? undefined : resolveRegion(region)?.url;
  if (url === undefined && regionUrl === undefined) {
    problems.add(
      [...path, 'region'],
      `is required: set "region" to one of ${regionChoices()}, or "url" to the stack URL such as ${URL_EXAMPLE}`,
    );
    return BAD;
  }
  if (url === undefined) return regionUrl ?? BAD;
  if (regionUrl !== undefined && regionForUrl(url)?.url !== regionUrl) {
    problems.add(
      [...path, 'url'],
      `${problems.quote(url)} is not the stack of region "${region}" (${regionUrl}); set only one of "region" and "url", or make them agree`,
    );
    return BAD;
  }
  return url;
}

/** `#token` plus `region` and/or `url`, for the source (`parameters`) or `parameters.destination`. */
export function readEndpoint(
  object: Readonly<Record<string, unknown>>,
  path: Path,
  what: string,
  problems: Problems,
): ProjectEndpoint | typeof BAD {
  const token = readToken(own(object, '#token'), what, [...path, '#token'], problems);
  const region = readRegion(own(object, 'region'), [...path, 'region'], problems);
  const url = resolveEndpointUrl(
    region,
    readUrl(own(object, 'url'), [...path, 'url'], problems),
    path,
    problems,
  );
  if (token === BAD || token === undefined || url === BAD || region === BAD) return BAD;
  return region === undefined ? { url, token } : { url, region, token };
}
