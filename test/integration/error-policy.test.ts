/**
 * The error policy end to end (docs/architecture.md, Errors): the call sites that know what a
 * failure means answer exit 1 with their sentence; any other 4xx is exit 2 and names the request
 * and the answer's code. Driven through `runCli` against the emulator with injected faults.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { startHttpTestServer } from '../helpers/http-test-server.js';
import { makeDataDir, removeDir, runCli } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import {
  expectNoLeaks,
  platformConfig,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';
import type { FaultSpec } from 'keboola-storage-emulator';

interface SummaryDocument {
  tables: { source: string; status: string }[];
}

const emulator = useEmulator(standaloneSeed());

async function runWithFault(fault: FaultSpec, config: Record<string, unknown>) {
  const { control, url } = emulator;
  control.clearFaults();
  control.addFault(fault);
  const dataDir = await makeDataDir(config);
  try {
    const result = await runJob(url, dataDir);
    await expectNoLeaks(control, result, dataDir);
    return result;
  } finally {
    control.clearFaults();
    await removeDir(dataDir);
  }
}

/** The API answers `status` with an error body of `code` on `method path`. */
function answer(
  method: string,
  path: string,
  status: number,
  error: string,
  code: string,
): FaultSpec {
  return { method, path, kind: 'status', status, body: { error, code } };
}

const platform = () => platformConfig(emulator.url, [{ name: 'orders' }]);

const exportPath = (table: string) => `in.c-sales.${table}/export-async`;

/** The export of `table` answers 404 storage.tables.notFound. */
function notFoundAt(table: string): FaultSpec {
  const body = { error: 'The table was not found.', code: 'storage.tables.notFound' };
  return { method: 'POST', path: exportPath(table), kind: 'status', status: 404, body };
}

/** Runs orders and customers in platform mode with a summary file; then clears faults and holds. */
async function runOrdersAndCustomers() {
  const { control, url } = emulator;
  const dataDir = await makeDataDir(
    platformConfig(url, [{ name: 'orders' }, { name: 'customers' }]),
  );
  try {
    const summaryPath = join(dataDir, 'summary.json');
    const result = await runJob(url, dataDir, ['--summary-file', summaryPath]);
    await expectNoLeaks(control, result, dataDir);
    const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as SummaryDocument;
    const statuses = Object.fromEntries(summary.tables.map((t) => [t.source, t.status]));
    return { result, statuses };
  } finally {
    control.clearFaults();
    control.releaseHolds();
    await removeDir(dataDir);
  }
}

describe('exit codes by where a failure is understood', () => {
  it('an unexpected 400 is exit 2, naming the request and the answer’s code', async () => {
    const result = await runWithFault(
      answer(
        'GET',
        '/v2/storage/buckets/in.c-sales/tables',
        400,
        'Unknown include.',
        'storage.validation.include',
      ),
      platform(),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'GET /v2/storage/buckets/in.c-sales/tables answered 400: Unknown include. (storage.validation.include)',
    );
  });

  it('a 403 of tokens/verify is exit 1 with the token sentence', async () => {
    const result = await runWithFault(
      { method: 'GET', path: '/v2/storage/tokens/verify', kind: 'status', status: 403 },
      platform(),
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `The source Storage API token was refused at ${emulator.url} (tokens/verify answered 403): set a valid token in "#token", or check "region"/"url" if the token belongs to another stack.`,
    );
  });

  it('a url that is not a Storage API (404 everywhere) is exit 1 naming url and region', async () => {
    const server = await startHttpTestServer();
    const dataDir = await makeDataDir(platformConfig(server.url, [{ name: 'orders' }]));
    try {
      const result = await runJob(server.url, dataDir);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        'The source URL does not answer as a Keboola Storage API (tokens/verify answered 404): check "url" or "region".',
      );
    } finally {
      await server.close();
      await removeDir(dataDir);
    }
  });

  it('a 403 anywhere is exit 1 naming the table and the request, without a stack trace', async () => {
    const result = await runWithFault(
      answer(
        'POST',
        '/export-async',
        403,
        "You don't have access to the resource.",
        'accessDenied',
      ),
      platform(),
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Table "in.c-sales.orders" failed: Storage API POST /v2/storage/tables/in.c-sales.orders/export-async answered 403: You don\'t have access to the resource. (accessDenied)',
    );
  });

  it('an outage that outlasts the retries is exit 2 with class and cause, without a stack trace', async () => {
    const { control, url } = emulator;
    control.clearFaults();
    control.addFault({
      ...answer('POST', '/export-async', 503, 'Storage API is down for maintenance', 'maintenance'),
      count: 100,
    });
    const dataDir = await makeDataDir(platform());
    try {
      const result = await runJob(url, dataDir, [], {
        KBC_TABLE_SYNC_RETRY_BASE_MS: '1',
        KBC_TABLE_SYNC_RETRY_MAX_MS: '2',
        KBC_TABLE_SYNC_RETRY_BUDGET_MS: '2000',
      });
      await expectNoLeaks(control, result, dataDir);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /^Table "in\.c-sales\.orders" failed: StorageApiError: Storage API POST \/v2\/storage\/tables\/in\.c-sales\.orders\/export-async answered 503/,
      );
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      control.clearFaults();
      await removeDir(dataDir);
    }
  });

  describe('under Keboola’s runner (KBC_COMPONENTID set), an outage is exit 1 telling to run later', () => {
    /** Fast retries that give up within a second or two; the runner's variables. */
    const underRunner = {
      KBC_TABLE_SYNC_RETRY_BASE_MS: '1',
      KBC_TABLE_SYNC_RETRY_MAX_MS: '2',
      KBC_TABLE_SYNC_RETRY_BUDGET_MS: '1000',
      KBC_COMPONENTID: 'keboola.ex-table-sync',
      KBC_CONFIGID: '7',
    };

    async function runUnderRunner(
      faults: FaultSpec[],
      config: Record<string, unknown>,
      env: Record<string, string> = underRunner,
    ) {
      const { control, url } = emulator;
      control.clearFaults();
      for (const fault of faults) control.addFault(fault);
      const dataDir = await makeDataDir(config);
      try {
        const result = await runJob(url, dataDir, [], env);
        await expectNoLeaks(control, result, dataDir);
        return result;
      } finally {
        control.clearFaults();
        await removeDir(dataDir);
      }
    }

    const host = () => new URL(emulator.url).host;
    const unavailable = (status: number) =>
      ({ kind: 'status', status, count: 1_000, body: { error: 'Service Unavailable' } }) as const;

    it('tokens/verify answering 503 until the retries give up', async () => {
      const result = await runUnderRunner(
        [{ method: 'GET', path: '/v2/storage/tokens/verify', ...unavailable(503) }],
        platform(),
      );
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.trim()).toBe(
        `The Storage API at ${host()} is unavailable: Storage API GET /v2/storage/tokens/verify answered 503: Service Unavailable; run the job again later.`,
      );
    });

    it('an export answering 500 names the table (platform mode)', async () => {
      const result = await runUnderRunner(
        [{ method: 'POST', path: '/export-async', ...unavailable(500) }],
        platform(),
      );
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.trim()).toMatch(
        /^Table "in\.c-sales\.orders" failed: The Storage API at \S+ is unavailable: Storage API POST \/v2\/storage\/tables\/in\.c-sales\.orders\/export-async answered 500: .*; run the job again later\.$/,
      );
    });

    it('a slice whose object store answers 503 names the provider and bucket', async () => {
      const result = await runUnderRunner(
        [{ method: 'GET', path: 'csv.gz0000_part', ...unavailable(503) }],
        platform(),
      );
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.trim()).toMatch(
        /^Table "in\.c-sales\.orders" failed: The aws file storage \(bucket [^)]+\) is unavailable: GET aws \S+ answered 503.*; run the job again later\.$/,
      );
    });

    it('standalone: a failed table’s outage makes the run exit 1, told in its summary', async () => {
      const result = await runUnderRunner(
        [{ method: 'POST', path: exportPath('orders'), ...unavailable(503) }],
        standaloneConfig(emulator.url, [{ name: 'orders' }, { name: 'customers' }]),
      );
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.trim()).toBe(
        `1 of 2 table(s) failed: in.c-sales.orders: The Storage API at ${host()} is unavailable: Storage API POST /v2/storage/tables/in.c-sales.orders/export-async answered 503: Service Unavailable; run the job again later.`,
      );
    });

    it('the Storage API dropping every connection after the token check names the request', async () => {
      const result = await runUnderRunner(
        [
          {
            method: 'GET',
            path: '/v2/storage/buckets/in.c-sales/tables',
            kind: 'reset',
            afterBytes: 0,
            count: 1_000,
          },
        ],
        platform(),
      );
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.trim()).toMatch(
        /^The Storage API is unavailable: Storage API GET \/v2\/storage\/buckets\/in\.c-sales\/tables failed: \S+ \(.*\); run the job again later\.$/,
      );
    });

    /** Slice attempts restarted at once, each object request's retries spent within 0.2 s. */
    const fastSlices = {
      ...underRunner,
      KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS: '1',
      KBC_TABLE_SYNC_RETRY_BUDGET_MS: '200',
    };
    /** The same variables without the runner's. */
    const outsideRunner = (env: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(env).filter(
          ([name]) => name !== 'KBC_COMPONENTID' && name !== 'KBC_CONFIGID',
        ),
      );
    const resetEvery = (path: string): FaultSpec => ({
      method: 'GET',
      path,
      kind: 'reset',
      afterBytes: 0,
      count: 1_000,
    });

    it('slices whose object store refuses every connection name the provider and bucket; exit 2 outside the runner', async () => {
      const port = await closedPort();
      const env = { ...fastSlices, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}` };
      const result = await runUnderRunner([], platform(), env);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.trim()).toMatch(
        new RegExp(
          `^Table "in\\.c-sales\\.orders" failed: The aws file storage \\(bucket [^)]+\\) is unavailable: GET aws \\S+ at 127\\.0\\.0\\.1:${port} failed \\(ECONNREFUSED\\): the connection was refused \\(nothing listens there\\); run the job again later\\.$`,
        ),
      );
      expect(result.stderr).not.toMatch(/[?]|X-Amz/);
      const outside = await runUnderRunner([], platform(), outsideRunner(env));
      expect(outside.code, outside.stderr).toBe(2);
      expect(outside.stderr.trim()).toMatch(
        /^Table "in\.c-sales\.orders" failed: ObjectStoreError: GET aws \S+ at \S+ failed \(ECONNREFUSED\)/,
      );
    });

    it('slices whose connections are reset mid-answer name the provider and bucket; exit 2 without a stack outside the runner', async () => {
      const result = await runUnderRunner([resetEvery('csv.gz0000_part')], platform(), fastSlices);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.trim()).toMatch(
        new RegExp(
          `^Table "in\\.c-sales\\.orders" failed: The aws file storage \\(bucket [^)]+\\) is unavailable: GET aws \\S+ at ${host().replace(/\./g, '\\.')} failed mid-answer: ECONNRESET; run the job again later\\.$`,
        ),
      );
      expect(result.stderr).not.toMatch(/[?]|X-Amz/);
      const outside = await runUnderRunner(
        [resetEvery('csv.gz0000_part')],
        platform(),
        outsideRunner(fastSlices),
      );
      expect(outside.code, outside.stderr).toBe(2);
      expect(outside.stderr.trim()).toMatch(
        /^Table "in\.c-sales\.orders" failed: ObjectStoreError: GET aws \S+ at \S+ failed mid-answer: ECONNRESET$/,
      );
    });

    it('a manifest whose connections are reset mid-answer names the provider and bucket', async () => {
      const result = await runUnderRunner([resetEvery('manifest')], platform(), fastSlices);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.trim()).toMatch(
        /^Table "in\.c-sales\.orders" failed: The aws file storage \(bucket [^)]+\) is unavailable: GET aws \S+manifest at \S+ failed mid-answer: ECONNRESET; run the job again later\.$/,
      );
    });

    it('the run’s own stop while the object store refuses connections stays exit 2', async () => {
      const port = await closedPort();
      const dataDir = await makeDataDir(platform());
      try {
        const result = await runCli(['--data', dataDir], {
          env: { ...fastSlices, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}` },
          killWhen: { pattern: /ECONNREFUSED.*; retrying/, signal: 'SIGTERM' },
          timeoutMs: 60_000,
        });
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr.trim()).toMatch(/^Received SIGTERM: the run was interrupted/);
      } finally {
        await removeDir(dataDir);
      }
    });

    it('a 400 no call site recognised stays exit 2', async () => {
      const result = await runUnderRunner(
        [answer('GET', '/v2/storage/buckets/in.c-sales/tables', 400, 'Bad.', 'some.code')],
        platform(),
      );
      expect(result.code, result.stderr).toBe(2);
    });
  });

  it('a 404 on the export of a planned table is exit 1 naming the table', async () => {
    const result = await runWithFault(
      answer('POST', '/export-async', 404, 'The table was not found.', 'storage.tables.notFound'),
      platform(),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/The table "in\.c-sales\.orders" was not found in the source/);
  });

  it('platform mode ends with the failure that stopped the run, not a sibling it interrupted', async () => {
    const { control } = emulator;
    control.clearFaults();
    // orders, first in the plan, waits on its export job until the run stops it; customers fails.
    control.addFault({ kind: 'hold', method: 'GET', path: '/v2/storage/jobs/' });
    control.addFault(notFoundAt('customers'));
    const { result, statuses } = await runOrdersAndCustomers();
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr.trim()).toMatch(
      /^Table "in\.c-sales\.customers" failed: The table "in\.c-sales\.customers" was not found in the source/,
    );
    // orders did not fail: the run stopped it (docs/summary-file.md).
    expect(statuses).toEqual({ 'in.c-sales.customers': 'failed', 'in.c-sales.orders': 'skipped' });
  });

  it('platform mode: a table that fails on its own after the first failure is failed and logged, not skipped', async () => {
    const { control } = emulator;
    control.clearFaults();
    // orders' export answers 404 too, but only after customers' 404 has stopped the run.
    control.addFault({ method: 'POST', path: exportPath('orders'), kind: 'latency', ms: 1_500 });
    control.addFault(notFoundAt('orders'));
    control.addFault(notFoundAt('customers'));
    const { result, statuses } = await runOrdersAndCustomers();
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr.trim()).toMatch(/^Table "in\.c-sales\.customers" failed/);
    expect(result.stdout).toMatch(/Table \\"in\.c-sales\.orders\\" failed \(user error\)/);
    expect(statuses).toEqual({ 'in.c-sales.customers': 'failed', 'in.c-sales.orders': 'failed' });
  });

  it('platform mode: a failure that is exit 2 still names its table in the final sentence', async () => {
    const result = await runWithFault(
      { kind: 'corruptGzip', path: 'csv.gz0000_part', count: 50 },
      platform(),
    );
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.trim()).toMatch(/^Table "in\.c-sales\.orders" failed: .*gzip/);
  });

  it('a # value nested 60 levels deep is masked in the sentence that quotes it', async () => {
    const secret = 'deep-secret-in-authorization';
    let nested: unknown = { '#password': secret };
    for (let level = 0; level < 60; level++) nested = { inner: nested };
    // A column named by it is refused by the config check without quoting it; --table is quoted.
    const config = platformConfig(emulator.url, [{ name: 'orders' }]);
    const dataDir = await makeDataDir({ ...config, authorization: nested });
    try {
      const result = await runJob(emulator.url, dataDir, ['--table', secret]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('No configured table is named "[hidden]"');
      await expectNoSecrets([secret], result, dataDir);
    } finally {
      await removeDir(dataDir);
    }
  });

  it('a csvImport.* import failure is exit 1 naming the destination table', async () => {
    const result = await runWithFault(
      {
        method: 'POST',
        path: 'in.c-copy.orders_refused/import-async',
        kind: 'jobError',
        code: 'csvImport.columnsNotMatch',
        message: 'Some columns are missing in the csv file.',
      },
      standaloneConfig(emulator.url, [{ name: 'orders', destination: 'orders_refused' }]),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'The destination table "in.c-copy.orders_refused" refused the import (csvImport.columnsNotMatch)',
    );
  });
});

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
