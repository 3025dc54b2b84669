/**
 * Platform mode keeps a `lastRun` watermark per source table, and the output mapping loads what
 * the job writes into a destination the job cannot see. A watermark made for one destination
 * would leave another without every row copied before it, so a moved destination gets every row
 * (docs/state-file.md, A moved destination).
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { readSlicedTable, sortRows, withoutTimestamp } from '../helpers/output.js';
import { carryState, makeDataDir, removeMadeDataDirs, runCli } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import { PROJECT_ID, TOKENS, platformSeed } from './platform-fixtures.js';

const emulator = useEmulator(platformSeed(Math.floor(Date.now() / 1000)));
afterEach(removeMadeDataDirs);

function config(table: Record<string, unknown>): unknown {
  return {
    parameters: {
      '#token': TOKENS.read,
      url: emulator.url,
      lagSeconds: 0,
      tables: [{ name: 'customers', changedSince: 'lastRun', incremental: true, ...table }],
    },
  };
}

/** Runs the job on the data folder with `configJson` (exit 0); returns its log. */
async function run(
  dataDir: string,
  configJson: unknown,
  env: Record<string, string> = {},
): Promise<string> {
  await rm(join(dataDir, 'out'), { recursive: true, force: true });
  await writeFile(join(dataDir, 'config.json'), JSON.stringify(configJson));
  const result = await runCli(['--data', dataDir, '--log-format', 'json'], {
    env: { AWS_ENDPOINT_URL_S3: emulator.url, ...env },
  });
  expect(result.code, result.stderr).toBe(0);
  await expectNoSecrets(Object.values(TOKENS), result, dataDir);
  return result.stdout;
}

async function sourceRows(): Promise<Record<string, string>[]> {
  return sortRows(
    withoutTimestamp(await emulator.control.tableRows(PROJECT_ID, 'in.c-sales.customers')),
  );
}

describe('platform mode: a moved destination', () => {
  it('copies every row of a lastRun table into its new destination, and records where it went', async () => {
    const { control } = emulator;
    // A frozen clock moved on between the steps: no change falls into a window's last second.
    control.setClock(Date.now());
    try {
      const dataDir = await makeDataDir(config({ primaryKey: ['id'], destination: 'customers_a' }));
      await run(dataDir, config({ primaryKey: ['id'], destination: 'customers_a' }));
      await carryState(dataDir);
      control.advanceClock(10_000);
      await control.upsertRows(PROJECT_ID, 'in.c-sales.customers', [
        { id: '2', name: 'Changed', note: 'after the first run' },
      ]);
      control.advanceClock(10_000);

      const log = await run(dataDir, config({ primaryKey: ['id'], destination: 'customers_b' }));
      expect(log).toContain(
        'moved since its last run (from out/tables/customers_a.csv to out/tables/customers_b.csv): its watermark, made for out/tables/customers_a.csv, is not used, so every row is copied.',
      );
      // The configured upsert, not a full load: a full load could drop rows the destination kept.
      const moved = await readSlicedTable(dataDir, 'customers_b.csv');
      expect(moved.manifest).toMatchObject({ primary_key: ['id'], incremental: true });
      expect(sortRows(moved.rows)).toEqual(await sourceRows());
      const state = JSON.parse(await readFile(join(dataDir, 'out', 'state.json'), 'utf8')) as {
        tables: Record<string, { destination?: string }>;
      };
      expect(state.tables['in.c-sales.customers']?.destination).toBe('out/tables/customers_b.csv');

      // The next run goes on from the watermark without a warning.
      await carryState(dataDir);
      control.advanceClock(10_000);
      const next = await run(dataDir, config({ primaryKey: ['id'], destination: 'customers_b' }));
      expect(next).not.toContain('moved since its last run');
    } finally {
      control.releaseClock();
    }
  });

  it('says that a lastRun append without a watermark appends every row', async () => {
    const dataDir = await makeDataDir(config({}));
    const log = await run(dataDir, config({}));
    expect(log).toContain(
      'has no watermark for out/tables/customers.csv, so this run appends every row to it',
    );
    await carryState(dataDir);
    expect(await run(dataDir, config({}))).not.toContain('has no watermark');
  });

  it('refuses a second, disabled copy of a lastRun table, also when --table names it, before anything is written', async () => {
    // Run once, that copy rewrote the shared state entry, and the enabled copy's next run took its
    // destination as moved and appended every row again (docs/standalone.md).
    const twice = {
      parameters: {
        ...(config({ destination: 'customers_a' }) as { parameters: object }).parameters,
        tables: [
          { name: 'customers', changedSince: 'lastRun', incremental: true, destination: 'a' },
          { name: 'customers', incremental: true, destination: 'b', enabled: false },
        ],
      },
    };
    const dataDir = await makeDataDir(twice);
    for (const args of [[], ['--table', 'b']]) {
      await rm(join(dataDir, 'out'), { recursive: true, force: true });
      const result = await runCli(['--data', dataDir, ...args], {
        env: { AWS_ENDPOINT_URL_S3: emulator.url },
      });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain(
        'The table "in.c-sales.customers" is configured more than once (tables[0] and tables[1]) with changedSince "lastRun"',
      );
      expect(await readdir(join(dataDir, 'out', 'tables')).catch(() => [])).toEqual([]);
      await expect(readFile(join(dataDir, 'out', 'state.json'))).rejects.toThrow(/ENOENT/);
    }
  });

  it('under the runner, a short name and its full id in the default bucket are one destination', async () => {
    const runner = { KBC_COMPONENTID: 'keboola.ex-table-sync', KBC_CONFIGID: '7' };
    const dataDir = await makeDataDir(config({ primaryKey: ['id'] }));
    await run(dataDir, config({ primaryKey: ['id'] }), runner);
    await carryState(dataDir);
    const state = JSON.parse(await readFile(join(dataDir, 'out', 'state.json'), 'utf8')) as {
      tables: Record<string, { destination?: string }>;
    };
    expect(state.tables['in.c-sales.customers']?.destination).toBe(
      'in.c-keboola-ex-table-sync-7.customers',
    );
    const full = config({
      primaryKey: ['id'],
      destination: 'in.c-keboola-ex-table-sync-7.customers',
    });
    const log = await run(dataDir, full, runner);
    expect(log).not.toContain('moved since its last run');
    expect(log).toMatch(/Exporting .*changed since/);
  });
});
