/**
 * Config fuzzing at the process boundary (issue: fault tolerance, Build 3). The unit fuzz test
 * (`test/unit/config/parse-config.fuzz.test.ts`) proves the parser answers a config or path-prefixed
 * problems for 2 000 seeded inputs. Here the same kind of inputs go through the whole command line:
 * `main()` in process for 2 000 seeded cases, and a handful through `runCli` with its argv. Every case must end
 * with exit 0 or 1 (a user error), never 2 and never an uncaught exception. Configs that parse are
 * pointed at the emulator with an unknown token, so they end at `tokens/verify` (401 → exit 1).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS as ACTION_NAMES } from '../../src/config/action-names.js';
import { parseConfig } from '../../src/config/parse-config.js';
import { main } from '../../src/main.js';
import { useEmulator } from '../helpers/emulator.js';
import { runCli } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';

const TOKEN = '101-1001-fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz';
const DEST_TOKEN = '202-2001-fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzdest';
/** Replaced by the emulator's URL in every config that parses. */
const URL_PLACEHOLDER = 'http://127.0.0.1:9';

const BASE = {
  action: 'run',
  parameters: {
    '#token': TOKEN,
    url: URL_PLACEHOLDER,
    parallelism: 2,
    tables: [
      { name: 'orders', incremental: true, primaryKey: ['id'], changedSince: 'lastRun' },
      { name: 'customers', columns: ['id', 'name'], extractMetadata: true },
    ],
    destination: { url: URL_PLACEHOLDER, '#token': DEST_TOKEN, bucket: 'in.c-copy' },
  },
};

type Json = unknown;

/** Replaces, drops or retypes the node at `at` (modulo the node count) of a copy of `root`. */
function mutate(root: Json, at: number, op: 'drop' | 'junk', junk: Json): Json {
  const copy = structuredClone(root);
  const slots: Array<[Record<string, Json> | Json[], string | number]> = [];
  const walk = (node: Json) => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, child] of Object.entries(node)) {
      slots.push([node as Record<string, Json>, Array.isArray(node) ? Number(key) : key]);
      walk(child);
    }
  };
  walk(copy);
  const slot = slots[at % Math.max(1, slots.length)];
  if (!slot) return copy;
  const [parent, key] = slot;
  if (op === 'drop' && Array.isArray(parent)) parent.splice(Number(key), 1);
  else if (op === 'drop') Reflect.deleteProperty(parent, key);
  else (parent as Record<string | number, Json>)[key] = junk;
  return copy;
}

const nearValid = fc
  .array(
    fc.record({
      at: fc.nat(),
      op: fc.constantFrom('drop' as const, 'junk' as const),
      junk: fc.jsonValue({ maxDepth: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((mutations) => mutations.reduce<Json>((c, m) => mutate(c, m.at, m.op, m.junk), BASE));

const fuzzedConfig = fc.oneof(
  { weight: 3, arbitrary: nearValid },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 5 }) },
);

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const ACTIONS: ReadonlySet<string> = new Set(ACTION_NAMES);

/**
 * Points every endpoint of a config at the emulator, so no case can reach a real stack. A root
 * `action` string naming no action is put back to "run": the runner writes that key (an unknown
 * action name is tested in sync-actions.test.ts), while the fuzz covers what a user writes. Non-string actions stay: they are config problems (exit 1).
 */
function aimAtEmulator(config: Json, url: string): Json {
  if (isObject(config) && typeof config.action === 'string' && !ACTIONS.has(config.action)) {
    config = { ...config, action: 'run' };
  }
  if (!isObject(config) || !isObject(config.parameters)) return config;
  const copy = structuredClone(config) as { parameters: Record<string, unknown> };
  copy.parameters.url = url;
  const destination = copy.parameters.destination;
  if (isObject(destination)) destination.url = url;
  return copy;
}

function sink(): Writable & { text: string } {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stream.text += chunk.toString();
      callback();
    },
  }) as Writable & { text: string };
  stream.text = '';
  return stream;
}

const emulator = useEmulator({ projects: [] });
let dataDir = '';

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'kts-fuzz-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('config fuzzing through the command line', () => {
  it('2 000 seeded configs through main(): exit 0 or 1, never 2, never an exception', async () => {
    const samples = fc.sample(fuzzedConfig, { seed: 20250302, numRuns: 2000 });
    const codes = { 0: 0, 1: 0 } as Record<number, number>;
    const exitTwo: string[] = [];
    let reachedEmulator = 0;
    for (const sample of samples) {
      const config = aimAtEmulator(sample, emulator.url);
      if (parseConfig(config).ok) reachedEmulator += 1;
      await writeFile(join(dataDir, 'config.json'), JSON.stringify(config));
      const stdout = sink();
      const stderr = sink();
      const code = await main({
        argv: ['--data', dataDir],
        // Small retry budget: a case that wrongly reaches a network error ends fast (as exit 2).
        env: { KBC_TABLE_SYNC_RETRY_BUDGET_MS: '200', KBC_TABLE_SYNC_RETRY_BASE_MS: '10' },
        stdout,
        stderr,
        signal: new AbortController().signal,
      });
      codes[code] = (codes[code] ?? 0) + 1;
      if (code !== 0 && code !== 1) exitTwo.push(`${JSON.stringify(config)} → ${stderr.text}`);
      if (code === 1) expect(stderr.text.trim()).not.toBe('');
      for (const secret of [TOKEN, DEST_TOKEN]) {
        expect(stdout.text + stderr.text).not.toContain(secret);
      }
    }
    expect(exitTwo.slice(0, 3)).toEqual([]);
    expect((codes[0] ?? 0) + (codes[1] ?? 0)).toBe(2000);
    // Some configs stay valid and meet the emulator's 401 (an unknown token is a user error).
    expect(reachedEmulator).toBeGreaterThan(50);
  });

  it('a handful of fuzzed configs through runCli end with exit 0 or 1', async () => {
    const samples = fc.sample(nearValid, { seed: 7, numRuns: 6 });
    for (const sample of samples) {
      const config = aimAtEmulator(sample, emulator.url);
      await writeFile(join(dataDir, 'config.json'), JSON.stringify(config));
      const result = await runCli(['--data', dataDir], { timeoutMs: 30_000 });
      expect([0, 1], `${JSON.stringify(config)}\n${result.stderr}`).toContain(result.code);
      expect(result.stderr, 'no stack trace').not.toMatch(/^\s+at /m);
      await expectNoSecrets([TOKEN, DEST_TOKEN], result);
    }
  });
});
