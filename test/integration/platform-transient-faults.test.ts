import { afterEach, describe, expect, it } from 'vitest';
import type { FaultSpec } from 'keboola-storage-emulator';
import { useEmulator } from '../helpers/emulator.js';
import { readSlicedTable, sortRows, withoutTimestamp } from '../helpers/output.js';
import { makeDataDir, removeDir, runCli } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import { PROJECT_ID, TOKENS, platformSeed } from './platform-fixtures.js';

const emulator = useEmulator(platformSeed(Math.floor(Date.now() / 1000)));
const dirs: string[] = [];
afterEach(async () => {
  emulator.control.clearFaults();
  await Promise.all(dirs.splice(0).map(removeDir));
});

const maintenance = {
  status: 'maintenance',
  reason: 'The system is down for maintenance',
  estimatedEndTime: '2030-01-01T00:00:00+02:00',
};

const scenarios: Array<[string, FaultSpec[]]> = [
  [
    'maintenance 503 twice with Retry-After',
    [
      {
        kind: 'status',
        status: 503,
        retryAfterSeconds: 1,
        body: maintenance,
        path: '/export-async',
        count: 2,
      },
    ],
  ],
  [
    'a 429 on the export request',
    [{ kind: 'status', status: 429, retryAfterSeconds: 1, path: '/export-async', count: 1 }],
  ],
  [
    'a 500 on a job poll',
    [{ kind: 'status', status: 500, method: 'GET', path: '/v2/storage/jobs/', count: 1 }],
  ],
  [
    'a connection dropped in the middle of a slice',
    [{ kind: 'reset', afterBytes: 200, method: 'GET', path: '/_part_00\\.gz$/', count: 1 }],
  ],
];

describe('platform mode rides out transient faults', () => {
  it.each(scenarios)('%s: success with exactly one export per table', async (_name, faults) => {
    const dataDir = await makeDataDir({
      parameters: {
        '#token': TOKENS.read,
        url: emulator.url,
        tables: [{ name: 'orders' }, { name: 'customers' }],
      },
    });
    dirs.push(dataDir);
    emulator.control.resetStats();
    const injectedBefore = emulator.control.stats().faultsInjected;
    for (const fault of faults) emulator.control.addFault(fault);

    const result = await runCli(['--data', dataDir], {
      env: { AWS_ENDPOINT_URL_S3: emulator.url },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(emulator.control.stats().faultsInjected - injectedBefore).toBe(
      faults.reduce((sum, f) => sum + (f.count ?? 1), 0),
    );
    expect(emulator.control.stats().jobStarts).toEqual({
      'tableExport in.c-sales.orders': 1,
      'tableExport in.c-sales.customers': 1,
    });
    for (const table of ['orders', 'customers']) {
      const output = await readSlicedTable(dataDir, `${table}.csv`);
      const source = withoutTimestamp(
        await emulator.control.tableRows(PROJECT_ID, `in.c-sales.${table}`),
      );
      expect(sortRows(output.rows)).toEqual(sortRows(source));
    }
    await expectNoSecrets(
      [...Object.values(TOKENS), ...emulator.control.issuedSecrets()],
      result,
      dataDir,
    );
  });
});
