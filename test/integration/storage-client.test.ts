import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DeadlineError,
  InterruptedError,
  JobFailedError,
  StorageApiError,
  TokenRevokedError,
} from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { SecretMasker } from '../../src/secrets.js';
import {
  createStorageClient,
  type StorageClientOptions,
} from '../../src/storage/storage-client.js';
import type { StorageClient, StorageJob } from '../../src/storage/types.js';
import {
  startHttpTestServer,
  type HttpTestServer,
  type RecordedRequest,
} from '../helpers/http-test-server.js';

const TOKEN = '578-67319-460300c259ec3fcba4b95d1d5c14a8419268bc2b';
const RUN_ID = 'run-4242';
const S3_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const S3_SESSION = 'FwoGZXIvYXdzEJr//////////wEaDEXAMPLESESSION';
const URL_SIGNATURE = 'f00dfeedcafebabe0123456789abcdef';

const verifyBody = {
  id: '67319',
  description: 'copy-job source token',
  isMasterToken: false,
  canManageBuckets: false,
  canManageTokens: false,
  canReadAllFileUploads: false,
  expires: null,
  isExpired: false,
  isDisabled: false,
  bucketPermissions: [],
  owner: { id: 578, name: 'Sales', region: 'us-east-1', fileStorageProvider: 'aws' },
};

const maintenance = {
  status: 503,
  headers: { 'Retry-After': '2' },
  body: { status: 'maintenance', reason: 'The system is down for maintenance' },
};

function job(overrides: Partial<Record<string, unknown>> = {}): Record<string, unknown> {
  return {
    id: 1001,
    status: 'waiting',
    url: 'http://x/v2/storage/jobs/1001',
    tableId: 'in.c-crm.customers',
    operationName: 'tableExport',
    operationParams: { export: { columns: ['id', 'name'] } },
    createdTime: serverTime(Date.now()),
    startTime: null,
    endTime: null,
    runId: RUN_ID,
    results: null,
    creatorToken: { id: '27978', description: 'x' },
    ...overrides,
  };
}

/** `2024-02-13T12:56:57+0100`-style timestamp (offset without a colon), as PHP sends it. */
function serverTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000');
}

describe('StorageClient against a scripted HTTP server', () => {
  let server: HttpTestServer;
  let masker: SecretMasker;
  let sleeps: number[];
  let logText: string;
  const caught: unknown[] = [];

  beforeAll(async () => {
    server = await startHttpTestServer();
  });
  afterAll(async () => {
    // Secret scan over every error thrown in this file and every log line written.
    for (const error of caught) {
      const renderings = [
        String(error),
        JSON.stringify(error),
        error instanceof Error ? (error.stack ?? '') : '',
      ];
      for (const text of renderings) {
        for (const secret of [TOKEN, S3_SECRET, S3_SESSION, URL_SIGNATURE]) {
          expect(text).not.toContain(secret);
        }
      }
    }
    expect(caught.length).toBeGreaterThan(5);
    await server.close();
  });
  beforeEach(() => {
    server.reset();
    masker = new SecretMasker();
    sleeps = [];
    logText = '';
  });

  function client(overrides: Partial<StorageClientOptions> = {}): StorageClient {
    const out = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logText += chunk.toString('utf8');
        callback();
      },
    });
    return createStorageClient({
      url: `${server.url}/`,
      token: TOKEN,
      runId: RUN_ID,
      masker,
      logger: createLogger({ level: 'debug', masker, out, target: { kind: 'json' } }).logger,
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      random: () => 0.5,
      ...overrides,
    });
  }

  async function rejection(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
    } catch (error) {
      caught.push(error);
      return error;
    }
    throw new Error('expected a rejection');
  }

  it('sends the headers and parses the PHP quirks of tokens/verify', async () => {
    server.route('GET', '/v2/storage/tokens/verify', { status: 200, body: verifyBody });
    const token = await client().verifyToken();
    expect(token.bucketPermissions).toEqual({});
    expect(token.owner.fileStorageProvider).toBe('aws');
    const request = server.requests[0]!;
    expect(request.headers['x-storageapi-token']).toBe(TOKEN);
    expect(request.headers['x-kbc-runid']).toBe(RUN_ID);
    expect(request.headers['user-agent']).toMatch(/^kbc-table-sync\/\d+\.\d+\.\d+/);
    expect(request.headers['accept-encoding']).toBe('gzip');
    expect(masker.mask(`x ${TOKEN} y`)).toBe('x [hidden] y');
  });

  it('estimates the server’s clock without a request: the latest Date header plus the monotonic time since it arrived', async () => {
    const dateMs = Date.parse('2026-03-01T10:00:00Z');
    server.route('GET', '/v2/storage/tokens/verify', {
      status: 200,
      body: verifyBody,
      headers: { Date: new Date(dateMs).toUTCString() },
    });
    let monotonicMs = 1_000;
    const storage = client({ monotonicMs: () => monotonicMs });
    expect(storage.approxServerTimeMs()).toBeUndefined();
    await storage.verifyToken();
    expect(storage.approxServerTimeMs()).toBe(dateMs);
    monotonicMs += 1_500;
    expect(storage.approxServerTimeMs()).toBe(dateMs + 1_500);
    expect(server.count('GET', '/v2/storage/tokens/verify')).toBe(1);
  });

  it('gives no estimate from a Date header a day or more ahead of this machine’s clock', async () => {
    server.route('GET', '/v2/storage/tokens/verify', {
      status: 200,
      body: verifyBody,
      headers: { Date: new Date(Date.parse('2999-01-01T00:00:00Z')).toUTCString() },
    });
    const storage = client();
    await storage.verifyToken();
    expect(storage.approxServerTimeMs()).toBeUndefined();
  });

  it('retries 503 maintenance twice honouring Retry-After, then succeeds', async () => {
    server.route('GET', '/v2/storage/tokens/verify', maintenance, maintenance, {
      status: 200,
      body: verifyBody,
    });
    await client().verifyToken();
    expect(server.count('GET', '/v2/storage/tokens/verify')).toBe(3);
    expect(sleeps).toEqual([2000, 2000]);
    expect(logText).toContain('retrying');
    expect(logText).not.toContain(TOKEN);
  });

  it('retries 429 and a 500 on a GET', async () => {
    server.route(
      'GET',
      '/v2/storage/tokens/verify',
      { status: 429, body: { error: 'Too many requests' } },
      { status: 500, body: { error: 'Internal error', code: 'APPLICATION_ERROR' } },
      { status: 200, body: verifyBody },
    );
    await client().verifyToken();
    expect(server.count('GET', '/v2/storage/tokens/verify')).toBe(3);
    // Equal jitter with random 0.5: 3/4 of the exponential step (500 ms, then 1000 ms).
    expect(sleeps).toEqual([375, 750]);
  });

  it('retries a dropped connection on a GET', async () => {
    server.route(
      'GET',
      '/v2/storage/tables/in.c-crm.customers',
      { status: 0, destroy: true },
      { status: 200, body: { id: 'in.c-crm.customers', name: 'customers', columnMetadata: [] } },
    );
    const table = await client().getTable('in.c-crm.customers');
    expect(table.bucketId).toBe('in.c-crm');
    expect(table.columnMetadata).toEqual({});
  });

  it('a timeout names the variable that set its deadline: first contact, then the request timeout', async () => {
    const silent = { status: 0, respond: () => undefined };
    server.route('GET', '/v2/storage/tokens/verify', silent, { status: 200, body: verifyBody });
    server.route('GET', '/v2/storage/tables/in.c-crm.customers', silent);
    const storage = client({
      firstContactTimeoutMs: 100,
      requestTimeoutMs: 300,
      retry: { maxAttempts: 2 },
    });
    await storage.verifyToken();
    // The first attempt had no answer within the first-contact deadline (docs/limits.md).
    expect(logText).toContain(
      'did not finish within 0.1 s (KBC_TABLE_SYNC_FIRST_CONTACT_TIMEOUT_S)',
    );
    expect(logText).not.toContain('KBC_TABLE_SYNC_REQUEST_TIMEOUT_S');
    const error = await rejection(storage.getTable('in.c-crm.customers'));
    expect(String(error)).toContain(
      'GET /v2/storage/tables/in.c-crm.customers did not finish within 0.3 s (KBC_TABLE_SYNC_REQUEST_TIMEOUT_S)',
    );
  });

  it('gives up after the attempts of the policy', async () => {
    server.route('GET', '/v2/storage/tokens/verify', {
      status: 502,
      body: { error: 'Bad gateway' },
    });
    const error = await rejection(client({ retry: { maxAttempts: 3 } }).verifyToken());
    expect(error).toBeInstanceOf(StorageApiError);
    expect(server.count('GET', '/v2/storage/tokens/verify')).toBe(3);
  });

  it('gives up when the time budget is spent', async () => {
    let clockMs = 1_000_000;
    server.route('GET', '/v2/storage/tokens/verify', { status: 500, body: { error: 'down' } });
    const error = await rejection(
      client({
        now: () => clockMs,
        sleep: (ms) => {
          sleeps.push(ms);
          clockMs += ms;
          return Promise.resolve();
        },
        retry: { budgetMs: 2_000, maxAttempts: 100 },
      }).verifyToken(),
    );
    expect(error).toBeInstanceOf(StorageApiError);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThan(2_000);
    expect(server.count('GET', '/v2/storage/tokens/verify')).toBeLessThan(10);
  });

  it('turns an error body into StorageApiError with code and exceptionId', async () => {
    server.route('GET', '/v2/storage/tables/in.c-crm.missing', {
      status: 404,
      body: {
        error: 'The table "missing" was not found in the bucket "in.c-crm" in the project "578"',
        code: 'storage.tables.notFound',
        status: 'error',
        exceptionId: 'keboola-connection-abc',
      },
    });
    const error = await rejection(client().getTable('in.c-crm.missing'));
    expect(error).toBeInstanceOf(StorageApiError);
    const details = (error as StorageApiError).details;
    expect(details).toMatchObject({
      method: 'GET',
      path: '/v2/storage/tables/in.c-crm.missing',
      status: 404,
      code: 'storage.tables.notFound',
      exceptionId: 'keboola-connection-abc',
    });
    expect((error as Error).message).toContain('was not found');
    expect(server.count('GET', '/v2/storage/tables/in.c-crm.missing')).toBe(1);
    await expect(client().findTable('in.c-crm.missing')).resolves.toBeNull();
  });

  it('reports a 401 on the first call as StorageApiError, and after success as TokenRevokedError', async () => {
    const invalid = {
      status: 401,
      body: { error: 'Invalid access token', code: 'storage.tokenInvalid' },
    };
    server.route('GET', '/v2/storage/tokens/verify', invalid);
    const first = await rejection(client().verifyToken());
    expect(first).toBeInstanceOf(StorageApiError);

    server.route('GET', '/v2/storage/tokens/verify', { status: 200, body: verifyBody }, invalid);
    const sut = client();
    await sut.verifyToken();
    const revoked = await rejection(sut.verifyToken());
    expect(revoked).toBeInstanceOf(TokenRevokedError);
    expect((revoked as Error).message).toBe(
      'The Storage API token was revoked or expired during the run: Storage API GET /v2/storage/tokens/verify answered 401: Invalid access token (storage.tokenInvalid)',
    );
    expect(server.count('GET', '/v2/storage/tokens/verify')).toBe(3);
  });

  it('names the config key of a token revoked mid-run, and the request once', async () => {
    const invalid = {
      status: 401,
      body: { error: 'Invalid access token', code: 'storage.tokenInvalid' },
    };
    server.route('GET', '/v2/storage/tokens/verify', { status: 200, body: verifyBody }, invalid);
    const sut = client({ tokenKey: 'parameters.destination.#token' });
    await sut.verifyToken();
    const revoked = await rejection(sut.verifyToken());
    expect(revoked).toBeInstanceOf(TokenRevokedError);
    expect((revoked as Error).message).toBe(
      'The token in parameters.destination.#token was revoked or expired during the run: Storage API GET /v2/storage/tokens/verify answered 401: Invalid access token (storage.tokenInvalid)',
    );
  });

  describe('job-starting POSTs', () => {
    const exportPath = '/v2/storage/tables/in.c-crm.customers/export-async';

    it('sends the export body of the reference', async () => {
      server.route('POST', exportPath, { status: 202, body: job() });
      await client().startExport('in.c-crm.customers', {
        columns: ['id', 'name'],
        changedSince: 1_700_000_000,
        changedUntil: 1_700_000_100,
      });
      expect(server.requests[0]!.body).toEqual({
        columns: 'id,name',
        gzip: true,
        changedSince: 1_700_000_000,
        changedUntil: 1_700_000_100,
      });
    });

    it('finds the job through the jobs list after a 500, without posting again', async () => {
      const created: Record<string, unknown>[] = [];
      server.route('POST', exportPath, (request: RecordedRequest) => {
        created.push(job({ id: 2002, runId: request.headers['x-kbc-runid'] }));
        return { status: 500, body: { error: 'Internal Server Error' } };
      });
      server.route('GET', '/v2/storage/jobs', () => ({
        status: 200,
        body: [job({ id: 1999, runId: 'other-run' }), ...created],
      }));
      // The job echoes the export's parameters (the fixture's columns).
      const started = await client().startExport('in.c-crm.customers', {
        columns: ['id', 'name'],
      });
      expect(started.id).toBe(2002);
      expect(server.count('POST', exportPath)).toBe(1);
      expect(server.count('GET', '/v2/storage/jobs')).toBe(1);
    });

    it('posts again when the lookup shows that no job started', async () => {
      server.route(
        'POST',
        exportPath,
        { status: 0, destroy: true },
        { status: 202, body: job({ id: 3003 }) },
      );
      server.route('GET', '/v2/storage/jobs', { status: 200, body: [] });
      const started = await client().startExport('in.c-crm.customers', { columns: ['id'] });
      expect(started.id).toBe(3003);
      expect(server.count('POST', exportPath)).toBe(2);
      expect(server.count('GET', '/v2/storage/jobs')).toBe(1);
    });

    it('retries a POST refused with 503 maintenance without a lookup', async () => {
      server.route('POST', '/v2/storage/tables/out.c-copy.t/import-async', maintenance, {
        status: 202,
        body: job({ id: 4004, operationName: 'tableImport', tableId: 'out.c-copy.t' }),
      });
      const started = await client().startImport('out.c-copy.t', {
        dataFileId: 77,
        columns: ['id', 'name'],
        incremental: true,
      });
      expect(started.id).toBe(4004);
      expect(server.count('POST', '/v2/storage/tables/out.c-copy.t/import-async')).toBe(2);
      expect(server.count('GET', '/v2/storage/jobs')).toBe(0);
      expect(server.requests[0]!.body).toEqual({
        dataFileId: 77,
        columns: ['id', 'name'],
        incremental: true,
      });
    });

    it('surfaces the original error when the jobs list fails too', async () => {
      server.route('POST', exportPath, { status: 500, body: { error: 'POST broke' } });
      server.route('GET', '/v2/storage/jobs', { status: 500, body: { error: 'list broke' } });
      const error = await rejection(
        client().startExport('in.c-crm.customers', { columns: ['id'] }),
      );
      expect(error).toBeInstanceOf(StorageApiError);
      expect((error as StorageApiError).details.path).toBe(exportPath);
      expect(server.count('POST', exportPath)).toBe(1);
    });

    it('matches a created table by its file when the job carries no table id, as the API lists it', async () => {
      const path = '/v2/storage/buckets/out.c-copy/tables-async';
      const created: Record<string, unknown>[] = [];
      server.route('POST', path, (request: RecordedRequest) => {
        const runId = request.headers['x-kbc-runid'];
        const params = { delimiter: ',', enclosure: '"', escapedBy: '' };
        created.push(
          // An earlier creation under the same run id, from another file: not this POST's.
          job({
            id: 5004,
            operationName: 'tableCreate',
            tableId: null,
            operationParams: { params, source: { type: 'file', fileId: '8' } },
            runId,
          }),
          job({
            id: 5005,
            operationName: 'tableCreate',
            tableId: null,
            operationParams: { params, source: { type: 'file', fileId: '9' } },
            runId,
          }),
        );
        return { status: 504, body: { error: 'Gateway timeout' } };
      });
      server.route('GET', '/v2/storage/jobs', () => ({ status: 200, body: created }));
      const started = await client().startTableCreate('out.c-copy', {
        name: 'orders',
        dataFileId: 9,
        primaryKey: ['id', 'region'],
      });
      expect(started.id).toBe(5005);
      expect(server.requests[0]!.body).toEqual({
        name: 'orders',
        dataFileId: 9,
        primaryKey: 'id,region',
      });
    });

    it('generates a run id when none is given and matches with it', async () => {
      const created: Record<string, unknown>[] = [];
      server.route('POST', exportPath, (request: RecordedRequest) => {
        created.push(job({ id: 6006, runId: request.headers['x-kbc-runid'] }));
        return { status: 500, body: { error: 'oops' } };
      });
      server.route('GET', '/v2/storage/jobs', () => ({ status: 200, body: created }));
      const sut = createStorageClient({
        url: server.url,
        token: TOKEN,
        masker,
        sleep: () => Promise.resolve(),
      });
      const started = await sut.startExport('in.c-crm.customers', { columns: ['id', 'name'] });
      expect(started.id).toBe(6006);
      expect(String(server.requests[0]!.headers['x-kbc-runid'])).toMatch(/^kts-[0-9a-f]{16}$/);
    });
  });

  describe('waitForJob', () => {
    function clockClient() {
      let clockMs = 5_000_000;
      const sut = client({
        now: () => clockMs,
        sleep: (ms) => {
          sleeps.push(ms);
          clockMs += ms;
          return Promise.resolve();
        },
        poll: { initialDelayMs: 100, maxDelayMs: 400 },
      });
      return sut;
    }

    it('returns a job that is already terminal without polling', async () => {
      const done = await client().waitForJob(job({ status: 'success' }) as unknown as StorageJob);
      expect(done.status).toBe('success');
      expect(server.requests).toHaveLength(0);
    });

    it('polls at once, then with capped backoff until success', async () => {
      server.route(
        'GET',
        '/v2/storage/jobs/1001',
        { status: 200, body: job({ status: 'processing' }) },
        { status: 200, body: job({ status: 'processing' }) },
        { status: 200, body: job({ status: 'processing' }) },
        { status: 200, body: job({ status: 'processing' }) },
        {
          status: 200,
          body: job({ status: 'success', results: { file: { id: 77 }, cacheHit: false } }),
        },
      );
      const done = await clockClient().waitForJob(job() as unknown as StorageJob);
      expect(done.results).toEqual({ file: { id: 77 }, cacheHit: false });
      // Five polls: the first at once, as Keboola's clients poll (docs/storage-api-notes.md).
      expect(sleeps).toEqual([100, 200, 400, 400]);
      expect(server.count('GET', '/v2/storage/jobs/1001')).toBe(5);
    });

    it('throws JobFailedError with the job error', async () => {
      server.route('GET', '/v2/storage/jobs/1001', {
        status: 200,
        body: job({
          status: 'error',
          operationName: 'tableImport',
          results: [],
          error: {
            code: 'csvImport.columnsNotMatch',
            message: 'Some columns are missing in the csv file.',
            exceptionId: 'x',
          },
        }),
      });
      const error = await rejection(clockClient().waitForJob(job() as unknown as StorageJob));
      expect(error).toBeInstanceOf(JobFailedError);
      expect(error).toMatchObject({ jobId: 1001, code: 'csvImport.columnsNotMatch' });
      expect((error as Error).message).toContain('Some columns are missing in the csv file.');
    });

    it('throws DeadlineError naming the job id and the last status', async () => {
      server.route('GET', '/v2/storage/jobs/1001', {
        status: 200,
        body: job({ status: 'processing' }),
      });
      const error = await rejection(
        clockClient().waitForJob(job() as unknown as StorageJob, { timeoutMs: 1_000 }),
      );
      expect(error).toBeInstanceOf(DeadlineError);
      expect((error as Error).message).toContain('1001');
      expect((error as Error).message).toContain('tableExport');
      expect((error as Error).message).toContain('"processing"');
      expect(server.count('GET', '/v2/storage/jobs/1001')).toBeLessThan(10);
    });

    it('ends a poll the server holds when the wait is aborted', async () => {
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      server.route('GET', '/v2/storage/jobs/1001', async () => {
        await held;
        return { status: 200, body: job({ status: 'processing' }) };
      });
      const stop = new AbortController();
      const waiting = rejection(
        client().waitForJob(job() as unknown as StorageJob, { signal: stop.signal }),
      );
      for (let i = 0; i < 200 && server.count('GET', '/v2/storage/jobs/1001') === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      stop.abort();
      const error = await waiting;
      release();
      expect(error).toBeInstanceOf(InterruptedError);
      expect((error as Error).message).toContain('1001');
    });
  });

  describe('files', () => {
    const fileDetail = {
      id: 236504177,
      name: 'in.c-crm.customers.csv.gz',
      isSliced: true,
      isEncrypted: true,
      sizeBytes: 10,
      provider: 'aws',
      region: 'us-east-1',
      url: `https://bucket.s3.amazonaws.com/key/manifest?X-Amz-Signature=${URL_SIGNATURE}&X-Amz-Expires=3600`,
      s3Path: { bucket: 'bucket', key: 'exp-15/1/key.csv.gz' },
      credentials: {
        AccessKeyId: 'ASIAEXAMPLE',
        SecretAccessKey: S3_SECRET,
        SessionToken: S3_SESSION,
        Expiration: '2024-02-14T21:46:25+00:00',
      },
    };

    it('asks for federation credentials and registers every secret', async () => {
      server.route('GET', '/v2/storage/files/236504177', { status: 200, body: fileDetail });
      const file = await client().getFile(236504177);
      expect(server.requests[0]!.query.get('federationToken')).toBe('1');
      expect(file.credentials?.SecretAccessKey).toBe(S3_SECRET);
      const masked = masker.mask(`ASIAEXAMPLE ${S3_SECRET} ${S3_SESSION} ${fileDetail.url}`);
      for (const secret of ['ASIAEXAMPLE', S3_SECRET, S3_SESSION, URL_SIGNATURE]) {
        expect(masked).not.toContain(secret);
      }
    });

    it('sends the prepare body of the reference', async () => {
      server.route('POST', '/v2/storage/files/prepare', {
        status: 201,
        body: {
          id: 5,
          name: 'x.csv.gz',
          provider: 'aws',
          region: 'us-east-1',
          isSliced: true,
          uploadParams: {
            key: 'k/x.csv.gz',
            bucket: 'b',
            acl: 'private',
            'x-amz-server-side-encryption': 'AES256',
            credentials: fileDetail.credentials,
          },
        },
      });
      const prepared = await client().prepareFile({ name: 'x.csv.gz', isSliced: true });
      expect(server.requests[0]!.body).toEqual({
        name: 'x.csv.gz',
        federationToken: true,
        isEncrypted: true,
        isSliced: true,
      });
      expect(prepared.uploadParams?.['x-amz-server-side-encryption']).toBe('AES256');
      expect(masker.mask(S3_SESSION)).toBe('[hidden]');
    });

    it('lists tables with columns and metadata', async () => {
      server.route('GET', '/v2/storage/buckets/in.c-crm/tables', {
        status: 200,
        body: [
          {
            id: 'in.c-crm.a',
            name: 'a',
            columns: ['id'],
            primaryKey: [],
            columnMetadata: { id: [{ id: '1', key: 'k', value: 'v', provider: 'p' }] },
            metadata: [],
          },
        ],
      });
      const tables = await client().listTables('in.c-crm');
      expect(server.requests[0]!.query.get('include')).toBe('columns,metadata,columnMetadata');
      expect(tables[0]!.columnMetadata['id']![0]!.value).toBe('v');
      expect(tables[0]!.bucketId).toBe('in.c-crm');
    });
  });
});
