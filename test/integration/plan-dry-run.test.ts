/**
 * The `plan` action and `--dry-run` (docs/standalone.md, `plan` and `--dry-run`): one JSON document on stdout with, per
 * table, the source id, destination, mode, window, source rows and bytes, and warnings; nothing
 * is written and no export job starts.
 */
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { listFiles, makeDataDir } from '../helpers/run-cli.js';
import {
  SEEDED_AT_SECONDS,
  T0_MS,
  expectNoLeaks,
  platformConfig,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());

interface PlanDocument {
  mode: string;
  warnings: string[];
  tables: Array<{
    source: string;
    destination: string;
    mode: string;
    window: { since: string | null; until: string | null };
    rows: number;
    bytes: number;
    export?: boolean;
    unchanged?: { lastChange: string; watermark: string };
    warnings: string[];
  }>;
}

const watermark = T0_MS / 1000 - 3600;

async function planDataDir(url: string): Promise<string> {
  return makeDataDir(
    standaloneConfig(url, [
      {
        name: 'orders',
        incremental: true,
        primaryKey: ['id'],
        changedSince: 'lastRun',
        destination: 'orders_plan',
      },
      { name: 'events', incremental: true, changedSince: '-2 days' },
      { name: 'customers', destination: 'in.c-other.clients' },
    ]),
    { tables: { 'in.c-sales.orders': { watermark } } },
  );
}

describe('plan', () => {
  it.each([
    ['action plan', ['action', 'plan']],
    ['--dry-run', ['--dry-run']],
  ])('%s prints one JSON document and writes nothing', async (_name, args) => {
    const { control, url } = emulator;
    control.setClock(T0_MS);
    const dataDir = await planDataDir(url);
    control.resetStats();
    const result = await runJob(url, dataDir, args);
    expect(result.code).toBe(0);
    const document = JSON.parse(result.stdout) as PlanDocument;
    expect(document.mode).toBe('standalone');
    expect(document.tables).toHaveLength(3);
    const [orders, events, customers] = document.tables;
    expect(orders).toEqual({
      source: 'in.c-sales.orders',
      destination: 'in.c-copy.orders_plan',
      mode: 'upsert',
      primaryKey: ['id'],
      window: {
        since: new Date(watermark * 1000).toISOString(),
        until: new Date(T0_MS).toISOString(),
      },
      rows: 5,
      bytes: expect.any(Number) as number,
      warnings: [],
    });
    expect(orders?.bytes).toBeGreaterThan(0);
    expect(events).toMatchObject({
      source: 'in.c-sales.events',
      destination: 'in.c-copy.events',
      mode: 'append',
      window: { since: new Date(T0_MS - 2 * 86_400_000).toISOString(), until: null },
      rows: 2,
    });
    expect(events?.warnings.join(' ')).toContain('rows can be duplicated');
    expect(customers).toMatchObject({
      source: 'in.c-sales.customers',
      destination: 'in.c-other.clients',
      mode: 'full',
      window: { since: null, until: null },
      warnings: [],
    });

    // Nothing written, nothing started.
    expect(await listFiles(dataDir)).toEqual(['config.json', 'in/state.json']);
    const stats = control.stats();
    expect(stats.jobStarts).toEqual({});
    expect(Object.keys(stats.requests).filter((k) => !k.startsWith('GET '))).toEqual([]);
    await expectNoLeaks(control, result, dataDir);
  });

  it('honours --table', async () => {
    const { url } = emulator;
    const dataDir = await planDataDir(url);
    const result = await runJob(url, dataDir, ['--dry-run', '--table', 'events']);
    expect(result.code).toBe(0);
    const document = JSON.parse(result.stdout) as PlanDocument;
    expect(document.tables.map((t) => t.source)).toEqual(['in.c-sales.events']);
  });

  it('platform mode: says which lastRun tables a run would skip as unchanged, and why', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(
      platformConfig(url, [
        { name: 'orders', incremental: true, primaryKey: ['id'], changedSince: 'lastRun' },
        { name: 'events', incremental: true, changedSince: 'lastRun' },
        { name: 'customers' },
      ]),
      // orders: saved watermark after its last change; events: no watermark yet.
      { tables: { 'in.c-sales.orders': { watermark } } },
    );
    const plan = async (...args: string[]) => {
      const result = await runJob(url, dataDir, ['--dry-run', ...args]);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as PlanDocument;
    };
    const document = await plan();
    expect(document.mode).toBe('platform');
    const [orders, events, customers] = document.tables;
    expect(orders).toMatchObject({
      source: 'in.c-sales.orders',
      export: false,
      unchanged: {
        lastChange: new Date(SEEDED_AT_SECONDS * 1000).toISOString(),
        watermark: new Date(watermark * 1000).toISOString(),
      },
    });
    expect(events).toMatchObject({ source: 'in.c-sales.events', export: true });
    expect(events?.unchanged).toBeUndefined();
    expect(customers).toMatchObject({ source: 'in.c-sales.customers', export: true });
    // --full-refresh always exports.
    const refreshed = await plan('--full-refresh', 'orders');
    expect(refreshed.tables[0]).toMatchObject({ source: 'in.c-sales.orders', export: true });
  });

  it('standalone mode: no export decision (the destination decides at run time)', async () => {
    const { url } = emulator;
    const result = await runJob(url, await planDataDir(url), ['--dry-run']);
    const document = JSON.parse(result.stdout) as PlanDocument;
    expect(document.tables.map((t) => t.export)).toEqual([undefined, undefined, undefined]);
  });
});
