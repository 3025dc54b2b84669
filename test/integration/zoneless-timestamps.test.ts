/**
 * Metadata timestamps without a time zone (docs/storage-api-notes.md, PHP answer quirks: Storage
 * sends some as `2025-04-01 00:00:20`, in a zone it does not name). A proxy in front of the
 * emulator rewrites every metadata `timestamp` that way. A run is killed after its import job was
 * accepted; the job succeeds, 110 more jobs fill the destination project's first jobs page, and a
 * run in a container west of the server (TZ=America/Los_Angeles) settles the intent. Read in the
 * container's zone, the intent's time moved 7 hours later, the search for its job stopped at the
 * first page and dropped the intent as never started: the window was imported twice (docs/
 * sync-record.md, Settling a pending intent). The runs that need a time zone are real processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { useEmulator } from '../helpers/emulator.js';
import { startRewritingProxy, type RewritingProxy } from '../helpers/rewriting-proxy.js';
import { makeDataDir, removeDir, runCli, startCliProcess } from '../helpers/run-cli.js';
import { WRITER_TOKEN } from '../helpers/standalone.js';

const T0_MS = Date.parse('2025-04-01T00:00:00Z');
const LEASE_MS = 30 * 60_000;
const TABLE = 'tz_orders';
const WEST = { TZ: 'America/Los_Angeles' };

const emulator = useEmulator(appendSeed([TABLE], T0_MS / 1000));

const ZONED_METADATA_TIMESTAMP = /"timestamp":"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})\+0000"/g;

/** Metadata timestamps rewritten so far by the proxy. */
let rewritten = 0;
/** Storage API requests pass through; metadata timestamps `…T…+0000` leave as `… …`. */
let proxy: RewritingProxy;
beforeAll(async () => {
  proxy = await startRewritingProxy(emulator.url, {
    rewrite: (_req, text) =>
      text.replace(ZONED_METADATA_TIMESTAMP, (_all, day: string, time: string) => {
        rewritten += 1;
        return `"timestamp":"${day} ${time}"`;
      }),
  });
});
afterAll(async () => {
  await proxy.close();
});

/** The run's environment: Storage through the proxy (config), objects straight at the emulator. */
function runEnv(extra: Record<string, string>): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: emulator.url,
    STORAGE_EMULATOR_HOST: emulator.url,
    KBC_TABLE_SYNC_POLL_INITIAL_MS: '20',
    ...extra,
  };
}

/** Starts export jobs on the destination table: other work of a busy destination project. */
async function addDestinationJobs(count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const response = await fetch(
      `${emulator.url}/v2/storage/tables/in.c-copy.${TABLE}/export-async`,
      {
        method: 'POST',
        headers: { 'X-StorageApi-Token': WRITER_TOKEN, 'Content-Type': 'application/json' },
        body: '{}',
      },
    );
    expect(response.status).toBe(202);
  }
  await emulator.control.waitForJobs();
}

describe('metadata timestamps without a time zone', () => {
  it('a run west of the server finds a killed run’s import behind a full jobs page: the window lands once', async () => {
    const { control } = emulator;
    const tables = appendTables({ url: proxy.url, control });
    control.setClock(T0_MS);
    const dir = await makeDataDir(tables.config(TABLE));
    try {
      const first = await runCli(['--data', dir], { env: runEnv({}), timeoutMs: 60_000 });
      expect({ code: first.code, stderr: first.stderr }).toMatchObject({ code: 0 });
      expect(rewritten, 'the proxy rewrote metadata timestamps').toBeGreaterThan(0);

      // A run is killed once its import job was accepted (its claim and intent stay).
      control.setClock(T0_MS + 10_000);
      await tables.addRow(TABLE, '3');
      control.setClock(T0_MS + 20_000);
      const held = control.whenFaultApplied('held-import');
      control.addFault({
        kind: 'hold',
        afterHandling: true,
        method: 'POST',
        path: '/import-async',
        label: 'held-import',
      });
      const killed = startCliProcess(['--data', dir], {
        env: runEnv({ ...WEST, KBC_RUNID: 'tz-killed' }),
        timeoutMs: 60_000,
      });
      await Promise.race([
        held,
        killed.done.then((r) => {
          throw new Error(`the run ended before its import: ${r.stderr.slice(0, 500)}`);
        }),
      ]);
      killed.kill('SIGKILL');
      expect((await killed.done).signal).toBe('SIGKILL');
      control.clearFaults();
      await control.waitForJobs();
      expect(await tables.compare(TABLE), 'the import landed').toMatchObject({
        ...exactlyOnce,
        actual: 3,
      });

      // A busy destination project: more than a page of jobs after the import.
      control.advanceClock(60_000);
      await addDestinationJobs(110);
      // Past the killed run's claim (a lease, plus an hour for a daylight-saving change).
      control.advanceClock(LEASE_MS + 3_600_000 + 5_000);
      await tables.addRow(TABLE, '4');
      control.advanceClock(10_000);

      const settle = await startCliProcess(['--data', dir], {
        env: runEnv({ ...WEST, KBC_RUNID: 'tz-settle' }),
        timeoutMs: 60_000,
      }).done;
      expect({ code: settle.code, stderr: settle.stderr }).toMatchObject({ code: 0, stderr: '' });
      expect(settle.stdout).toMatch(
        /run \\?"tz-killed\\?" \(job \d+\) succeeded: its window is now/,
      );
      expect(settle.stdout).not.toMatch(/never started: dropping it/);
      expect(await tables.compare(TABLE)).toMatchObject({ ...exactlyOnce, actual: 4 });
      const claims = (await tables.syncItems(TABLE)).filter((m) =>
        m.key.startsWith('kbc-table-sync.claim.'),
      );
      expect(claims).toEqual([]);
    } finally {
      control.clearFaults();
      control.releaseHolds();
      await removeDir(dir);
    }
  });
});
