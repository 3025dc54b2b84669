/**
 * Platform mode keeps a `lastRun` watermark per source table, and the output mapping loads what
 * the job writes into a destination the job cannot see. A watermark made for one destination
 * would leave another without every row copied before it, so a moved destination is loaded in
 * full (docs/state-file.md, A moved destination).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
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
async function run(dataDir: string, configJson: unknown): Promise<string> {
  await rm(join(dataDir, 'out'), { recursive: true, force: true });
  await writeFile(join(dataDir, 'config.json'), JSON.stringify(configJson));
  const result = await runCli(['--data', dataDir], {
    env: { AWS_ENDPOINT_URL_S3: emulator.url },
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
  it('loads a lastRun table in full into its new destination, and records where it went', async () => {
    const dataDir = await makeDataDir(config({ primaryKey: ['id'], destination: 'customers_a' }));
    await run(dataDir, config({ primaryKey: ['id'], destination: 'customers_a' }));
    await carryState(dataDir);
    await emulator.control.upsertRows(PROJECT_ID, 'in.c-sales.customers', [
      { id: '2', name: 'Changed', note: 'after the first run' },
    ]);

    const log = await run(dataDir, config({ primaryKey: ['id'], destination: 'customers_b' }));
    expect(log).toContain(
      'moved since its last run (from out/tables/customers_a.csv to out/tables/customers_b.csv): loading it in full',
    );
    const moved = await readSlicedTable(dataDir, 'customers_b.csv');
    expect(moved.manifest).toMatchObject({ primary_key: ['id'], incremental: false });
    expect(sortRows(moved.rows)).toEqual(await sourceRows());
    const state = JSON.parse(await readFile(join(dataDir, 'out', 'state.json'), 'utf8')) as {
      tables: Record<string, { destination?: string; watermark?: number }>;
    };
    expect(state.tables['in.c-sales.customers']?.destination).toBe('out/tables/customers_b.csv');

    // The next run goes on from the watermark, incrementally, without a warning.
    await carryState(dataDir);
    const next = await run(dataDir, config({ primaryKey: ['id'], destination: 'customers_b' }));
    expect(next).not.toContain('moved since its last run');
  });

  it('says that a lastRun append without a watermark appends every row', async () => {
    const dataDir = await makeDataDir(config({}));
    const log = await run(dataDir, config({}));
    expect(log).toContain(
      'has no watermark yet, so this run appends every row to out/tables/customers.csv',
    );
    await carryState(dataDir);
    expect(await run(dataDir, config({}))).not.toContain('has no watermark yet');
  });
});
