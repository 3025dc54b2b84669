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
  SOURCE_PROJECT,
  WRITER_TOKEN,
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
    watermarkFrom?: 'destination' | 'state' | null;
    pendingImport?: { runId: string; fileId: number };
    claims?: Array<{ runId: string | null; purpose: string | null; writtenAt: string | null }>;
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
    // The destination table does not exist yet: a run copies it in full, whatever in/state.json says.
    expect(orders).toEqual({
      source: 'in.c-sales.orders',
      destination: 'in.c-copy.orders_plan',
      mode: 'upsert',
      primaryKey: ['id'],
      window: { since: null, until: new Date(T0_MS).toISOString() },
      rows: 5,
      bytes: expect.any(Number) as number,
      export: true,
      watermarkFrom: null,
      warnings: [
        'The destination table "in.c-copy.orders_plan" does not exist: a run copies it in full (the watermark in in/state.json is ignored).',
      ],
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
      export: false,
      // The writer token may not write in.c-other: a run stops before any data moves.
      warnings: [
        expect.stringContaining(
          'A run would stop before copying any table: The destination token has no permission to the bucket "in.c-other"',
        ),
      ],
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

  it('--table takes the destination table id the plan shows for each table', async () => {
    const { url } = emulator;
    const dataDir = await planDataDir(url);
    const all = JSON.parse((await runJob(url, dataDir, ['--dry-run'])).stdout) as PlanDocument;
    expect(all.tables.map((t) => t.destination)).toContain('in.c-copy.events');
    for (const table of all.tables) {
      const result = await runJob(url, dataDir, ['--dry-run', '--table', table.destination]);
      expect(result.code, result.stderr).toBe(0);
      const document = JSON.parse(result.stdout) as PlanDocument;
      expect(document.tables.map((t) => t.source)).toEqual([table.source]);
    }
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
    // events has no watermark: a Keboola sync action, which gets no state, would show all tables so.
    expect(document.warnings).toContain(
      '1 lastRun table(s) have no saved watermark in in/state.json, so their windows start at the beginning. A Keboola sync action gets no state: there the plan always looks like this, while a run resumes from the saved state.',
    );
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

  describe('standalone mode: the window and the decision come from the destination, as in a run', () => {
    const tableId = 'in.c-copy.orders_resumed';
    const config = (url: string) =>
      standaloneConfig(url, [
        {
          name: 'orders',
          incremental: true,
          primaryKey: ['id'],
          changedSince: 'lastRun',
          destination: 'orders_resumed',
        },
      ]);
    const plan = async (url: string, dataDir: string) => {
      const result = await runJob(url, dataDir, ['--dry-run']);
      expect(result.code, result.stderr).toBe(0);
      return { result, table: (JSON.parse(result.stdout) as PlanDocument).tables[0] };
    };
    const setMetadata = async (url: string, key: string, value: unknown) => {
      const response = await fetch(`${url}/v2/storage/tables/${tableId}/metadata`, {
        method: 'POST',
        headers: { 'X-StorageApi-Token': WRITER_TOKEN, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          provider: 'kbc-table-sync',
          metadata: [{ key, value: JSON.stringify(value) }],
        }),
      });
      expect(response.status).toBe(201);
    };

    const pendingRunId = async (url: string) => {
      const response = await fetch(`${url}/v2/storage/tables/${tableId}/metadata`, {
        headers: { 'X-StorageApi-Token': WRITER_TOKEN },
      });
      const items = (await response.json()) as { key: string; value: string }[];
      const item = items.find((m) => m.key === 'kbc-table-sync.pending');
      return (JSON.parse(item?.value ?? '{}') as { runId?: string }).runId;
    };

    it('a destination that does not answer in time is named, as the source is', async () => {
      const { control, url } = emulator;
      const dataDir = await makeDataDir(config(url));
      control.addFault({ kind: 'latency', ms: 4_000, path: `tables/${tableId}`, count: 1 });
      const result = await runJob(url, dataDir, ['--dry-run'], {
        KBC_TABLE_SYNC_ACTION_DEADLINE_MS: '1000',
      });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `The sync action "plan" did not finish within 1 s: the destination Storage API ${url} did not answer findTable(${tableId}).`,
      );
    });

    it('resumes from the sync record, reports a pending import, and refuses a foreign record', async () => {
      const { control, url } = emulator;
      control.setClock(T0_MS);
      const synced = await makeDataDir(config(url));
      expect((await runJob(url, synced)).code).toBe(0);
      // A data folder whose in/state.json is older than the destination's record.
      control.setClock(T0_MS + 3_600_000);
      const dataDir = await makeDataDir(config(url), {
        tables: { 'in.c-sales.orders': { watermark } },
      });
      control.resetStats();

      const { result, table } = await plan(url, dataDir);
      // The record's watermark (the first run's server time), not in/state.json's.
      expect(table).toMatchObject({
        destination: tableId,
        watermarkFrom: 'destination',
        window: { since: new Date(T0_MS).toISOString() },
        export: false,
        unchanged: { watermark: new Date(T0_MS).toISOString() },
        warnings: [],
      });
      expect(await listFiles(dataDir)).toEqual(['config.json', 'in/state.json']);
      expect(control.stats().jobStarts).toEqual({});
      expect(Object.keys(control.stats().requests).filter((k) => !k.startsWith('GET '))).toEqual(
        [],
      );
      await expectNoLeaks(control, result, dataDir);

      // An import left pending by a killed run: shown, and left for a run to settle.
      const source = { stack: url, projectId: SOURCE_PROJECT, tableId: 'in.c-sales.orders' };
      const pending = { source, fileId: 77, runId: 'killed-run', mode: 'upsert', rows: 1 };
      await setMetadata(url, 'kbc-table-sync.pending', {
        ...pending,
        since: T0_MS / 1000,
        until: T0_MS / 1000 + 60,
        nextWatermark: T0_MS / 1000 + 60,
      });
      const withPending = await plan(url, dataDir);
      expect(withPending.table).toMatchObject({
        watermarkFrom: 'destination',
        pendingImport: { runId: 'killed-run', fileId: 77 },
        warnings: [
          `"${tableId}" has a pending import (run "killed-run", file 77): a run settles it first, and if its job succeeded the window starts at ${new Date(T0_MS + 60_000).toISOString()} instead.`,
        ],
      });
      expect(await pendingRunId(url)).toBe('killed-run');

      // A claim of a run about to import: shown with the latest time it can hold the table.
      const claimKey = 'kbc-table-sync.claim.0011223344556677';
      await setMetadata(url, claimKey, { runId: 'busy-run', purpose: 'import' });
      const claimedAt = new Date(T0_MS + 3_600_000);
      const withClaim = await plan(url, dataDir);
      expect(withClaim.table).toMatchObject({
        claims: [{ runId: 'busy-run', purpose: 'import', writtenAt: claimedAt.toISOString() }],
      });
      expect(withClaim.table?.warnings).toContain(
        `"${tableId}" has a claim of run "busy-run" (import): a run skips this table while the claim holds, until ${new Date(claimedAt.getTime() + 30 * 60_000).toISOString()} at the latest (metadata "${claimKey}").`,
      );

      // A record of another source table: a run would fail the table; the plan says so.
      await setMetadata(url, 'kbc-table-sync.pending', {
        ...pending,
        source: { ...source, tableId: 'in.c-sales.customers' },
      });
      const foreign = await plan(url, dataDir);
      expect(foreign.table?.export).toBe(false);
      expect(foreign.table?.warnings.join(' ')).toMatch(
        /^A run would fail this table: The destination table "in.c-copy.orders_resumed" is synced from .*in\.c-sales\.customers/,
      );
    });
  });
});
