import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ACTIONS } from '../../../src/config/action-names.js';
import { parseConfig } from '../../../src/config/parse-config.js';
import type { ParseResult } from '../../../src/config/types.js';
import { SecretMasker } from '../../../src/secrets.js';

const TOKEN = '2134-88291-mCkuU3xgVqLzAbcdefSOURCE';
const DEST_TOKEN = '9999-11111-destinationTokenValueDEST';

/** A valid config using every key of both the root and a table item. */
const VALID = {
  action: 'run',
  storage: { output: { default_bucket: 'in.c-x' } },
  image_parameters: {},
  authorization: {},
  parameters: {
    '#token': TOKEN,
    region: 'eu',
    url: 'https://connection.eu-central-1.keboola.com/',
    parallelism: 4,
    debug: false,
    destination: { url: 'http://127.0.0.1:9000', '#token': DEST_TOKEN, bucket: 'in.c-copy' },
    tables: [
      {
        name: 'in.c-sales.orders',
        destination: 'orders_copy',
        changedSince: '-1 day',
        incremental: true,
        primaryKey: ['id'],
        fullSync: false,
        columns: ['id', 'amount'],
        extractMetadata: true,
        enabled: true,
      },
      { name: 'customers', changedSince: 'lastRun', primaryKey: [] },
    ],
  },
};

/** The ex-storage row form, also valid. */
const VALID_ROW = {
  action: 'run',
  parameters: {
    '#token': TOKEN,
    url: 'https://connection.keboola.com/',
    tableName: 'orders',
    changedSince: '2025-03-01',
    incremental: 1,
    primaryKey: ['id'],
    fullSync: 0,
    extractMetadata: false,
  },
};

type Json = unknown;
type Key = string | number;
type Mutation =
  | { readonly op: 'drop' | 'retype'; readonly at: number }
  | { readonly op: 'junk'; readonly at: number; readonly junk: Json }
  | { readonly op: 'addKey'; readonly at: number; readonly key: string; readonly junk: Json };

/** Every path to a node below the root, parents before children. */
function pathsOf(value: Json, prefix: readonly Key[] = []): Key[][] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [Key, Json][] = Array.isArray(value)
    ? value.map((child, index): [Key, Json] => [index, child])
    : Object.entries(value);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...pathsOf(child, [...prefix, key])]);
}

/** The same value as a different JSON type: the kind of mistake a hand-edited config has. */
function retyped(value: Json): Json {
  if (typeof value === 'string') return value === '' ? 0 : 42;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 0;
  if (Array.isArray(value)) return { 0: (value as Json[])[0] ?? null };
  if (value === null) return '';
  return [value];
}

function mutate(root: Json, mutation: Mutation): Json {
  const copy = structuredClone<Json>(root);
  const paths = pathsOf(copy);
  const path = paths[mutation.at % Math.max(1, paths.length)];
  if (path === undefined) return copy;
  const parent = path
    .slice(0, -1)
    .reduce<Json>((node, key) => (node as Record<Key, Json>)[key], copy);
  const container = parent as Record<Key, Json>;
  const key = path.at(-1)!;
  switch (mutation.op) {
    case 'drop':
      if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
      else Reflect.deleteProperty(container, key);
      break;
    case 'retype':
      container[key] = retyped(container[key]);
      break;
    case 'junk':
      container[key] = mutation.junk;
      break;
    case 'addKey': {
      const target = container[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
        (target as Record<string, Json>)[mutation.key] = mutation.junk;
      }
      break;
    }
  }
  return copy;
}

const junk = fc.jsonValue({ maxDepth: 6 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constantFrom('drop' as const, 'retype' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('junk' as const), at: fc.nat(), junk }),
  fc.record({
    op: fc.constant('addKey' as const),
    at: fc.nat(),
    key: fc.oneof(fc.string(), fc.constantFrom('tables', 'name', '#token', 'region', '__proto__')),
    junk,
  }),
);

const nearValid = fc
  .tuple(
    fc.constantFrom<Json>(VALID, VALID_ROW),
    fc.array(mutation, { minLength: 1, maxLength: 4 }),
  )
  .map(([base, mutations]) => mutations.reduce(mutate, base));

const arbitraryJson = fc.oneof(
  fc.jsonValue({ maxDepth: 12 }),
  fc.record({ parameters: fc.jsonValue({ maxDepth: 10 }), action: fc.constantFrom(...ACTIONS) }),
  fc.record({
    parameters: fc.dictionary(
      fc.constantFrom(
        '#token',
        'region',
        'url',
        'tables',
        'destination',
        'tableName',
        'changedSince',
      ),
      fc.jsonValue({ maxDepth: 8 }),
    ),
  }),
);

/**
 * String values of `#` keys anywhere in the input, long enough to be told apart from prose (not
 * spaces around one character repeated, which the masker leaves alone).
 */
function secretsIn(value: Json, found: string[] = [], depth = 0): string[] {
  if (depth > 60 || value === null || typeof value !== 'object') return found;
  for (const [key, child] of Object.entries(value)) {
    if (key.startsWith('#') && typeof child === 'string' && isTellable(child)) found.push(child);
    secretsIn(child, found, depth + 1);
  }
  return found;
}

function isTellable(secret: string): boolean {
  return secret.trim().length >= 8 && new Set(secret.replace(/\s/g, '')).size >= 2;
}

/** Checks the contract of one answer; returns whether the config was valid. */
function checkResult(input: Json, result: ParseResult): boolean {
  if (result.ok) {
    expect(result.config.source.url).toMatch(/^https?:\/\//);
    expect(result.config.parallelism).toBeGreaterThanOrEqual(1);
    for (const table of result.config.tables) expect(table.name).not.toBe('');
    return true;
  }
  expect(result.problems.length).toBeGreaterThan(0);
  const text = result.problems.join('\n');
  for (const problem of result.problems) {
    expect(problem).toMatch(/^(parameters|action)(?=[.[:])/);
    expect(problem).toMatch(/: \S/);
  }
  for (const secret of [TOKEN, DEST_TOKEN, ...secretsIn(input)]) expect(text).not.toContain(secret);
  return false;
}

describe('parseConfig fuzz', () => {
  it('never throws, and answers a config or path-prefixed problems without secrets', () => {
    const answers = { valid: 0, invalid: 0 };
    fc.assert(
      fc.property(fc.oneof(arbitraryJson, nearValid), (input) => {
        answers[checkResult(input, parseConfig(input)) ? 'valid' : 'invalid'] += 1;
      }),
      { seed: 20250301, numRuns: 2000 },
    );
    expect(answers.valid + answers.invalid).toBe(2000);
    // Some mutations keep the config valid (dropping an optional key, for one).
    expect(answers.valid).toBeGreaterThan(0);
  });

  it('the unmutated bases are valid', () => {
    expect(parseConfig(VALID).ok).toBe(true);
    expect(parseConfig(VALID_ROW).ok).toBe(true);
  });

  it('survives very deep nesting in every place', () => {
    let deep: Json = 'leaf';
    for (let level = 0; level < 20_000; level += 1) deep = level % 2 ? [deep] : { '#a': deep };
    const valid = ['tables', 'destination', 'primaryKey', 'changedSince', 'junk'].map((key) => {
      const input = { parameters: { ...VALID.parameters, [key]: deep }, storage: deep, deep };
      return checkResult(input, parseConfig(input));
    });
    expect(valid).toEqual([false, false, false, false, false]);
  });
});

/** Characters that may not reach a log line raw: C0, DEL, C1, line separators, bidi controls. */
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const SAFE_NAME = /^[A-Za-z0-9_-]{1,96}$/;

/** Names: Keboola-valid parts, hostile strings, and token shapes, combined as ids or alone. */
const namePart = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('a/b', '/tmp/x', '..', '.', 'x?y=1', 'a b\tc\u0001', 'x'.repeat(300), 't\u202e'),
  fc.constantFrom('t\n{"level":"error"}', 'ok\u2028line', '%2e%2e', 'c-x%2Fy'),
);
const hostileName = fc.oneof(
  namePart,
  fc
    .tuple(fc.constantFrom('in', 'out', 'sys', 'x', ''), namePart, namePart)
    .map((p) => p.join('.')),
  fc.stringMatching(/^[A-Za-z0-9]{40}$/).map((tail) => `1234-56789-${tail}`),
  fc.stringMatching(/^[A-Za-z0-9_-]{8,30}$/).map((tail) => `kbc_pat_${tail}`),
  fc.stringMatching(/^[A-Za-z0-9_-]{8,30}$/).map((tail) => `kbc_at_${tail}`),
);

function isTokenShaped(text: string): boolean {
  return /\d+-\d+-[A-Za-z0-9]{40}|kbc_(pat|at)_/.test(text);
}

/** Whether Keboola's naming rules accept it as a table name or a full id (in/out[/sys]). */
function acceptable(name: string, stages: readonly string[]): boolean {
  if (isTokenShaped(name)) return false;
  const parts = name.split('.');
  if (parts.length === 1) return SAFE_NAME.test(name);
  return (
    parts.length === 3 &&
    stages.includes(parts[0] ?? '') &&
    parts.slice(1).every((p) => SAFE_NAME.test(p))
  );
}

describe('parseConfig fuzz: names and masking', () => {
  it('accepts exactly the names Keboola allows, and never shows a token or a raw control character', () => {
    fc.assert(
      fc.property(hostileName, hostileName, (name, destination) => {
        const input = {
          parameters: { '#token': TOKEN, region: 'eu', tables: [{ name, destination }] },
        };
        const result = parseConfig(input);
        const expectedOk =
          acceptable(name, ['in', 'out', 'sys']) && acceptable(destination, ['in', 'out']);
        expect(result.ok).toBe(expectedOk);
        if (result.ok) {
          // Accepted names are plain file and URL path segments.
          for (const table of result.config.tables) {
            expect(table.name).not.toMatch(/[/\\?#%\s]/);
            expect(table.destination ?? '').not.toMatch(/[/\\?#%\s]/);
          }
          return;
        }
        const text = result.problems.join(' | ');
        expect(text).not.toMatch(UNSAFE_CHARS);
        for (const value of [name, destination]) {
          if (isTokenShaped(value)) expect(text).not.toContain(value);
        }
      }),
      { seed: 20261129, numRuns: 3000 },
    );
  });

  it('the masker hides every token-shaped value, whatever surrounds it', () => {
    const tokens = fc.oneof(
      fc
        .tuple(fc.nat(99999), fc.nat(99999), fc.stringMatching(/^[A-Za-z0-9]{40}$/))
        .map(([a, b, tail]) => `${a}-${b}-${tail}`),
      fc.stringMatching(/^[A-Za-z0-9_-]{8,40}$/).map((tail) => `kbc_pat_${tail}`),
      fc.stringMatching(/^[A-Za-z0-9_-]{8,40}$/).map((tail) => `kbc_at_${tail}`),
    );
    const masker = new SecretMasker();
    fc.assert(
      fc.property(
        fc.string({ maxLength: 20 }),
        tokens,
        fc.constantFrom(' ', '"', '/', '=', '\n', ''),
        (around, token, sep) => {
          const text = `${around}${sep}${token}${sep === '' ? ' ' : sep}${around}`;
          expect(masker.mask(text)).not.toContain(token);
        },
      ),
      { seed: 20261130, numRuns: 2000 },
    );
  });
});
