import aws4 from 'aws4';
import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import type { SeedInput } from '../../src/seed.js';
import { DEMO_SEED_FILE, useEmulator } from '../helpers/emulator.js';

const SOURCE_TOKEN = '101-1001-5ea1e5f0c0ffee00000000000000000000000001';
const DEST_WRITE_TOKEN = '202-2001-a11a1e55c0ffee00000000000000000000000001';
const DEST_MASTER_TOKEN = '202-2002-a11a1e55c0ffee00000000000000000000000002';
const BIG_TOKEN = `303-3001-${'b'.repeat(40)}`;
const AZURE_TOKEN = `404-4001-${'c'.repeat(40)}`;

/** The demo seed plus a project holding a 200 000-row generated table. */
function testSeed(): SeedInput {
  const demo = JSON.parse(readFileSync(DEMO_SEED_FILE, 'utf8')) as SeedInput;
  return {
    projects: [
      ...demo.projects,
      {
        id: 303,
        name: 'Big',
        fileStorageProvider: 'gcp',
        sliceRows: 50_000,
        buckets: [
          {
            id: 'in.c-big',
            tables: [
              {
                name: 'events',
                columns: ['id', 'kind'],
                primaryKey: ['id'],
                generate: { rows: 200_000 },
              },
            ],
          },
        ],
        tokens: [{ token: BIG_TOKEN, isMasterToken: true, description: 'big master' }],
      },
      {
        id: 404,
        name: 'Azure',
        region: 'north-europe',
        fileStorageProvider: 'azure',
        features: ['disable-legacy-bucket-prefix'],
        buckets: [
          { id: 'in.c-az', tables: [{ name: 't', columns: ['id'], rows: [['1'], ['2']] }] },
        ],
        tokens: [{ token: AZURE_TOKEN, isMasterToken: true }],
      },
    ],
  };
}

const emulator = useEmulator(testSeed(), { seedBaseDir: dirname(DEMO_SEED_FILE) });

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown> & unknown[];
}

async function api(
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${emulator.url}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { 'X-StorageApi-Token': token }),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text ? JSON.parse(text) : null) as Answer['body'],
  };
}

type Job = Record<string, unknown> & {
  id: number;
  status: string;
  results: Record<string, unknown> | null;
  error?: { code: string; message: string; exceptionId: string };
};

/**
 * Polls a job until terminal, bounded by 1,500 polls of at least 20 ms (30 s and more): a 10 MB
 * value's import took longer than the 200 polls this allowed before while the whole suite ran on
 * two busy cores.
 */
async function waitForJob(token: string, jobId: number): Promise<Job> {
  for (let i = 0; i < 1_500; i += 1) {
    const answer = await api(token, 'GET', `/v2/storage/jobs/${jobId}`);
    expect(answer.status).toBe(200);
    const job = answer.body as unknown as Job;
    if (job.status === 'success' || job.status === 'error') return job;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function runJob(token: string, method: string, path: string, body?: unknown): Promise<Job> {
  const answer = await api(token, method, path, body);
  expect(answer.status).toBe(202);
  return waitForJob(token, (answer.body as unknown as Job).id);
}

type Credentials = { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };

/** A SigV4-signed S3 GET at the emulator root (path-style). */
async function s3Get(credentials: Credentials, bucket: string, key: string): Promise<Buffer> {
  const host = new URL(emulator.url).host;
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const signed = aws4.sign(
    { host, path, method: 'GET', service: 's3', region: 'us-east-1', headers: {} },
    {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
    },
  );
  const response = await fetch(`${emulator.url}${path}`, {
    headers: signed.headers as Record<string, string>,
  });
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

/** A SigV4-signed S3 PUT with the SSE header the upload params ask for. */
async function s3Put(
  credentials: Credentials,
  bucket: string,
  key: string,
  body: Buffer,
): Promise<void> {
  const host = new URL(emulator.url).host;
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const headers = {
    'x-amz-server-side-encryption': 'AES256',
    'Content-Length': String(body.length),
  };
  const signed = aws4.sign(
    { host, path, method: 'PUT', service: 's3', region: 'us-east-1', headers, body },
    {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
    },
  );
  const response = await fetch(`${emulator.url}${path}`, {
    method: 'PUT',
    headers: signed.headers as Record<string, string>,
    body,
  });
  expect(response.status).toBe(200);
}

/** Parses headerless CSV text into rows. */
function parseCsv(text: string): string[][] {
  return parse(text);
}

/** Exports a table (aws project) and returns the rows of all slices, in manifest order. */
async function exportRows(
  token: string,
  tableId: string,
  params: Record<string, unknown> = {},
): Promise<{ rows: string[][]; fileId: number; cacheHit: boolean; sliceCount: number }> {
  const job = await runJob(token, 'POST', `/v2/storage/tables/${tableId}/export-async`, {
    gzip: true,
    ...params,
  });
  expect(job.status).toBe('success');
  const fileId = (job.results!.file as { id: number }).id;
  const file = (await api(token, 'GET', `/v2/storage/files/${fileId}?federationToken=1`)).body;
  // The signed url lasts about an hour, the credentials about 12 h (docs/storage-api-notes.md).
  expect(new URL(String(file.url)).searchParams.get('X-Amz-Expires')).toBe('3600');
  const credentials = file.credentials as Credentials;
  const s3Path = file.s3Path as { bucket: string; key: string };
  const manifest = JSON.parse(
    (await s3Get(credentials, s3Path.bucket, `${s3Path.key}manifest`)).toString('utf8'),
  ) as { entries: { url: string }[] };
  const rows: string[][] = [];
  for (const entry of manifest.entries) {
    const key = entry.url.slice(`s3://${s3Path.bucket}/`.length);
    rows.push(
      ...parseCsv(gunzipSync(await s3Get(credentials, s3Path.bucket, key)).toString('utf8')),
    );
  }
  return {
    rows,
    fileId,
    cacheHit: job.results!.cacheHit === true,
    sliceCount: manifest.entries.length,
  };
}

/** Prepares an upload in project 202, uploads `slices` (sliced) and writes the manifest. */
async function uploadSliced(token: string, slices: string[]): Promise<number> {
  const prepared = await api(token, 'POST', '/v2/storage/files/prepare', {
    name: 'data.csv.gz',
    federationToken: true,
    isSliced: true,
  });
  expect(prepared.status).toBe(201);
  const params = prepared.body.uploadParams as {
    bucket: string;
    key: string;
    credentials: Credentials;
  };
  const urls: string[] = [];
  for (const [i, text] of slices.entries()) {
    const key = `${params.key}part${i}.gz`;
    await s3Put(params.credentials, params.bucket, key, gzipSync(text));
    urls.push(`s3://${params.bucket}/${key}`);
  }
  const manifest = JSON.stringify({ entries: urls.map((url) => ({ url, mandatory: true })) });
  await s3Put(params.credentials, params.bucket, `${params.key}manifest`, Buffer.from(manifest));
  return prepared.body.id as number;
}

/** A non-sliced upload (with a header row unless the caller says otherwise). */
async function uploadFile(token: string, text: string): Promise<number> {
  const prepared = await api(token, 'POST', '/v2/storage/files/prepare', {
    name: 'data.csv.gz',
    federationToken: true,
    isSliced: false,
  });
  const params = prepared.body.uploadParams as {
    bucket: string;
    key: string;
    credentials: Credentials;
  };
  await s3Put(params.credentials, params.bucket, params.key, gzipSync(text));
  return prepared.body.id as number;
}

beforeEach(() => {
  emulator.control.clearFaults();
  emulator.control.setMaintenance(false);
  emulator.control.releaseClock();
});

describe('authentication and tokens', () => {
  it('answers 401 for a missing, unknown, revoked and expired token', async () => {
    const missing = await api(undefined, 'GET', '/v2/storage/tokens/verify');
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual({ error: 'Access token must be set', code: '' });
    expect(missing.headers.get('content-type')).toBe('application/json');

    const unknown = await api(`101-1-${'0'.repeat(40)}`, 'GET', '/v2/storage/tokens/verify');
    expect(unknown.status).toBe(401);
    expect(unknown.body).toMatchObject({
      error: 'Invalid access token',
      code: 'storage.tokenInvalid',
    });

    const revoked = emulator.control.createToken(101, {
      bucketPermissions: { 'in.c-sales': 'read' },
    });
    expect((await api(revoked, 'GET', '/v2/storage/tokens/verify')).status).toBe(200);
    emulator.control.revokeToken(revoked);
    expect((await api(revoked, 'GET', '/v2/storage/buckets')).body).toMatchObject({
      code: 'storage.tokenInvalid',
    });

    const expiring = emulator.control.createToken(101, {
      bucketPermissions: { 'in.c-sales': 'read' },
    });
    emulator.control.expireToken(expiring);
    const expired = await api(expiring, 'GET', '/v2/storage/tables/in.c-sales.orders');
    expect(expired.status).toBe(401);
    expect(expired.body).toMatchObject({
      code: 'storage.tokenInvalid',
      error: 'Invalid access token',
    });
  });

  it('verifies a read-only token with PHP-shaped fields', async () => {
    const { status, body } = await api(SOURCE_TOKEN, 'GET', '/v2/storage/tokens/verify');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      id: '1001',
      isMasterToken: false,
      canManageBuckets: false,
      canReadAllFileUploads: false,
      bucketPermissions: { 'in.c-sales': 'read' },
      owner: { id: 101, name: 'Sales (source)', fileStorageProvider: 'aws', region: 'us-east-1' },
    });
    expect(body.admin).toBeUndefined();
    expect(body.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/);
  });

  it('gives master tokens admin and manage on every bucket', async () => {
    const { body } = await api(DEST_MASTER_TOKEN, 'GET', '/v2/storage/tokens/verify');
    expect(body).toMatchObject({
      isMasterToken: true,
      canManageBuckets: true,
      canReadAllFileUploads: true,
      bucketPermissions: { 'in.c-copy': 'manage' },
      admin: { role: 'admin' },
    });
  });
});

describe('buckets and tables', () => {
  it('hides buckets without permission and refuses them with 403', async () => {
    const none = emulator.control.createToken(101, {});
    expect((await api(none, 'GET', '/v2/storage/buckets')).body).toEqual([]);
    const denied = await api(none, 'GET', '/v2/storage/buckets/in.c-sales');
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({
      code: 'accessDenied',
      error: "You don't have access to the resource.",
    });
    expect((await api(none, 'GET', '/v2/storage/tables/in.c-sales.orders')).status).toBe(403);
    const listed = await api(SOURCE_TOKEN, 'GET', '/v2/storage/buckets');
    expect((listed.body as unknown as { id: string }[]).map((b) => b.id)).toEqual(['in.c-sales']);
  });

  it('answers 404 with the reference messages', async () => {
    const bucket = await api(DEST_MASTER_TOKEN, 'GET', '/v2/storage/buckets/in.c-nope');
    expect(bucket.status).toBe(404);
    expect(bucket.body).toMatchObject({
      code: 'storage.buckets.notFound',
      error: 'The bucket "in.c-nope" was not found in the project "202"',
    });
    const table = await api(SOURCE_TOKEN, 'GET', '/v2/storage/tables/in.c-sales.nope');
    expect(table.status).toBe(404);
    expect(table.body).toMatchObject({
      code: 'storage.tables.notFound',
      error: 'The table "nope" was not found in the bucket "in.c-sales" in the project "101"',
    });
  });

  it('creates buckets with the c- prefix for master tokens only', async () => {
    const denied = await api(DEST_WRITE_TOKEN, 'POST', '/v2/storage/buckets', {
      name: 'x',
      stage: 'in',
    });
    expect(denied.status).toBe(403);
    const created = await api(DEST_MASTER_TOKEN, 'POST', '/v2/storage/buckets', {
      name: 'made',
      stage: 'out',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'out.c-made', name: 'c-made', stage: 'out' });
    const again = await api(DEST_MASTER_TOKEN, 'POST', '/v2/storage/buckets', {
      name: 'made',
      stage: 'out',
    });
    expect(again.body).toMatchObject({ code: 'storage.buckets.alreadyExists' });
  });

  it('keeps the name as sent in a project with disable-legacy-bucket-prefix, which verify lists', async () => {
    const verified = await api(AZURE_TOKEN, 'GET', '/v2/storage/tokens/verify');
    expect(verified.body).toMatchObject({
      owner: { features: ['queuev2', 'disable-legacy-bucket-prefix'] },
    });
    const created = await api(AZURE_TOKEN, 'POST', '/v2/storage/buckets', {
      name: 'plain',
      stage: 'out',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'out.plain', name: 'plain', stage: 'out' });
  });

  it('describes tables with columns, key, metadata and bucket', async () => {
    const { body } = await api(SOURCE_TOKEN, 'GET', '/v2/storage/tables/in.c-sales.customers');
    expect(body).toMatchObject({
      id: 'in.c-sales.customers',
      columns: ['id', 'name', 'email', 'country'],
      primaryKey: ['id'],
      rowsCount: 8,
      isTyped: false,
      lastImportDate: '2024-02-01T00:00:00+0000',
      bucket: { id: 'in.c-sales' },
      metadata: [
        { key: 'KBC.description', value: 'Customers of the shop', provider: 'user' },
        { key: 'KBC.createdBy.component.id', provider: 'system' },
      ],
      columnMetadata: { id: [{ key: 'KBC.datatype.basetype', value: 'INTEGER' }] },
    });
    expect(body.definition).toBeUndefined();
    const typed = (await api(SOURCE_TOKEN, 'GET', '/v2/storage/tables/in.c-sales.products')).body;
    expect(typed).toMatchObject({
      isTyped: true,
      primaryKey: ['id'],
      definition: {
        primaryKeysNames: ['id'],
        columns: [{ name: 'id', basetype: 'NUMERIC' }, {}, {}],
      },
    });
    const empty = (await api(SOURCE_TOKEN, 'GET', '/v2/storage/tables/in.c-sales.returns')).body;
    expect(empty).toMatchObject({
      rowsCount: 0,
      lastImportDate: null,
      columnMetadata: [],
      metadata: [],
    });
  });

  it('lists tables with the requested includes', async () => {
    const { body } = await api(
      SOURCE_TOKEN,
      'GET',
      '/v2/storage/buckets/in.c-sales/tables?include=columns,metadata,columnMetadata',
    );
    const tables = body as unknown as Record<string, unknown>[];
    expect(tables.map((t) => t.name)).toEqual(['orders', 'customers', 'products', 'returns']);
    expect(tables[0]).toMatchObject({
      columns: ['id', 'customer_id', 'product_id', 'quantity', 'status'],
    });
    expect(tables[0]!.bucket).toBeUndefined();
  });

  it('leaves the typed definition out of the table lists when switched off, never out of the detail', async () => {
    const list = async (path: string) =>
      (await api(SOURCE_TOKEN, 'GET', path)).body as unknown as Record<string, unknown>[];
    const products = (tables: Record<string, unknown>[]) =>
      tables.find((t) => t.id === 'in.c-sales.products');
    expect(products(await list('/v2/storage/buckets/in.c-sales/tables'))?.definition).toBeDefined();
    const off = await fetch(`${emulator.url}/_emulator/table-list`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ definitions: false }),
    });
    expect(off.status).toBe(200);
    try {
      for (const path of ['/v2/storage/buckets/in.c-sales/tables', '/v2/storage/tables']) {
        const typed = products(await list(path));
        expect(typed).toMatchObject({ isTyped: true });
        expect(typed?.definition).toBeUndefined();
      }
      const detail = (await api(SOURCE_TOKEN, 'GET', '/v2/storage/tables/in.c-sales.products'))
        .body;
      expect(detail).toMatchObject({ isTyped: true, definition: { primaryKeysNames: ['id'] } });
    } finally {
      emulator.control.setTableListDefinitions(true);
    }
  });

  it('upserts table metadata by provider and key; storage provider refused on typed tables', async () => {
    const master = emulator.control.createToken(101, { isMasterToken: true });
    const write = await api(master, 'POST', '/v2/storage/tables/in.c-sales.customers/metadata', {
      provider: 'copy-job',
      metadata: [{ key: 'a', value: '1' }],
      columnsMetadata: { 0: [{ columnName: 'name', key: 'b', value: '2' }] },
    });
    expect(write.status).toBe(201);
    await api(master, 'POST', '/v2/storage/tables/in.c-sales.customers/metadata', {
      provider: 'copy-job',
      metadata: [{ key: 'a', value: '3' }],
    });
    const list = (await api(master, 'GET', '/v2/storage/tables/in.c-sales.customers/metadata'))
      .body;
    expect(
      (list as unknown as { key: string; value: string }[]).filter((m) => m.key === 'a'),
    ).toEqual([expect.objectContaining({ value: '3', provider: 'copy-job' })]);
    const refused = await api(master, 'POST', '/v2/storage/tables/in.c-sales.products/metadata', {
      provider: 'storage',
      metadata: [{ key: 'x', value: 'y' }],
    });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({
      code: 'storage.metadata.invalidProvider',
      error: 'Metadata with "storage" provider cannot be edited by user.',
    });
    const readOnly = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.customers/metadata',
      {
        provider: 'x',
        metadata: [],
      },
    );
    expect(readOnly.status).toBe(403);
  });
});

describe('export', () => {
  it('exports sliced, headerless, quoted gzip with the requested column order', async () => {
    const post = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.customers/export-async',
      { gzip: true, columns: 'email,id' },
      { 'X-KBC-RunId': 'run-42' },
    );
    expect(post.status).toBe(202);
    expect(post.body).toMatchObject({
      status: 'waiting',
      operationName: 'tableExport',
      tableId: 'in.c-sales.customers',
      runId: 'run-42',
      operationParams: { export: { columns: ['email', 'id'], gzipOutput: true } },
    });
    const id = (post.body as unknown as Job).id;
    expect((await api(SOURCE_TOKEN, 'GET', `/v2/storage/jobs/${id}`)).body).toMatchObject({
      status: 'processing',
    });
    const { rows, fileId } = await exportRows(SOURCE_TOKEN, 'in.c-sales.customers', {
      columns: 'email,id',
    });
    expect(rows).toHaveLength(8);
    expect(rows[0]).toEqual(['alice@example.com', '1']);
    const file = (await api(SOURCE_TOKEN, 'GET', `/v2/storage/files/${fileId}`)).body;
    expect(file).toMatchObject({
      id: fileId,
      isSliced: true,
      provider: 'aws',
      name: 'in.c-sales.customers.csv.gz',
    });
    expect(file.credentials).toBeUndefined();
    expect(typeof file.url).toBe('string');
  });

  it('keeps quotes and commas in values', async () => {
    const { rows } = await exportRows(SOURCE_TOKEN, 'in.c-sales.customers', { columns: 'id,name' });
    expect(rows).toContainEqual(['3', 'Carla "CJ" Jones']);
    expect(rows).toContainEqual(['5', 'Eva, Maria Kral']);
  });

  it('serves the same file from the cache until the table changes', async () => {
    const first = await exportRows(SOURCE_TOKEN, 'in.c-sales.products', { columns: 'id,name' });
    const second = await exportRows(SOURCE_TOKEN, 'in.c-sales.products', { columns: 'id,name' });
    expect(second).toMatchObject({ fileId: first.fileId, cacheHit: true });
    const other = await exportRows(SOURCE_TOKEN, 'in.c-sales.products', { columns: 'name,id' });
    expect(other.fileId).not.toBe(first.fileId);
    await emulator.control.insertRows(101, 'in.c-sales.products', [
      { id: '9', name: 'New', price: '1' },
    ]);
    const third = await exportRows(SOURCE_TOKEN, 'in.c-sales.products', { columns: 'id,name' });
    expect(third.cacheHit).toBe(false);
    expect(third.rows).toHaveLength(5);
  });

  it('filters by the half-open changedSince/changedUntil window on the emulator clock', async () => {
    emulator.control.setClock(Date.UTC(2025, 0, 1, 0, 0, 0));
    const t1 = Math.floor(emulator.control.nowMs() / 1000);
    await emulator.control.upsertRows(101, 'in.c-sales.customers', [{ id: '1', name: 'Alice v2' }]);
    emulator.control.advanceClock(10_000);
    await emulator.control.upsertRows(101, 'in.c-sales.customers', [{ id: '9', name: 'Ivan' }]);
    const rowsOf = async (params: Record<string, unknown>) =>
      (await exportRows(SOURCE_TOKEN, 'in.c-sales.customers', { columns: 'id,name', ...params }))
        .rows;
    expect(await rowsOf({ changedSince: t1 })).toEqual([
      ['1', 'Alice v2'],
      ['9', 'Ivan'],
    ]);
    expect(await rowsOf({ changedSince: String(t1), changedUntil: t1 + 10 })).toEqual([
      ['1', 'Alice v2'],
    ]);
    expect(await rowsOf({ changedSince: t1 + 10 })).toEqual([['9', 'Ivan']]);
    const stored = await emulator.control.tableRows(101, 'in.c-sales.customers');
    expect(stored.find((r) => r.id === '9')).toMatchObject({ _timestamp: t1 + 10, email: '' });
  });

  it('rejects non-unix changedSince and unknown columns with 400', async () => {
    const bad = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.orders/export-async',
      {
        changedSince: '-1 day',
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'Invalid "changedSince" parameter' });
    const until = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.orders/export-async',
      {
        changedUntil: '2024-01-01',
      },
    );
    expect(until.body).toMatchObject({ error: 'Invalid "changedUntil" parameter' });
    const column = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.orders/export-async',
      {
        columns: 'id,nope',
      },
    );
    expect(column.status).toBe(400);
    expect(column.body).toMatchObject({ code: 'storage.tables.validation.columnNotExists' });
  });

  it('writes a manifest with zero entries for an empty table', async () => {
    const { rows, sliceCount } = await exportRows(SOURCE_TOKEN, 'in.c-sales.returns');
    expect(rows).toEqual([]);
    expect(sliceCount).toBe(0);
  });

  it('slices the demo orders table into 3 slices of 40 000 rows', async () => {
    const { rows, sliceCount } = await exportRows(SOURCE_TOKEN, 'in.c-sales.orders', {
      columns: 'id',
    });
    expect(sliceCount).toBe(3);
    expect(rows).toHaveLength(120_000);
    expect(rows[119_999]).toEqual(['120000']);
  });

  it('streams a 200 000-row table into 4 slices (gcp project)', async () => {
    const job = await runJob(BIG_TOKEN, 'POST', '/v2/storage/tables/in.c-big.events/export-async', {
      gzip: true,
    });
    expect(job.status).toBe('success');
    const fileId = (job.results!.file as { id: number }).id;
    const file = (await api(BIG_TOKEN, 'GET', `/v2/storage/files/${fileId}?federationToken=1`))
      .body;
    expect(file).toMatchObject({ provider: 'gcp', isSliced: true });
    const gcsPath = file.gcsPath as { bucket: string; key: string };
    const credentials = file.gcsCredentials as { access_token: string };
    const download = async (key: string) => {
      const response = await fetch(
        `${emulator.url}/storage/v1/b/${gcsPath.bucket}/o/${encodeURIComponent(key)}?alt=media`,
        { headers: { Authorization: `Bearer ${credentials.access_token}` } },
      );
      expect(response.status).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    };
    const manifest = JSON.parse((await download(`${gcsPath.key}manifest`)).toString('utf8')) as {
      entries: { url: string }[];
    };
    expect(manifest.entries).toHaveLength(4);
    let total = 0;
    for (const entry of manifest.entries) {
      expect(entry.url.startsWith(`gs://${gcsPath.bucket}/${gcsPath.key}`)).toBe(true);
      const text = gunzipSync(
        await download(entry.url.slice(`gs://${gcsPath.bucket}/`.length)),
      ).toString('utf8');
      total += text.split('\n').length - 1;
    }
    expect(total).toBe(200_000);
  });

  it('lets only the creator (or canReadAllFileUploads) read the file', async () => {
    const { fileId } = await exportRows(SOURCE_TOKEN, 'in.c-sales.customers', { columns: 'id' });
    const other = emulator.control.createToken(101, {
      bucketPermissions: { 'in.c-sales': 'read' },
    });
    expect((await api(other, 'GET', `/v2/storage/files/${fileId}`)).status).toBe(403);
    const reader = emulator.control.createToken(101, { canReadAllFileUploads: true });
    expect((await api(reader, 'GET', `/v2/storage/files/${fileId}`)).status).toBe(200);
    const missing = await api(SOURCE_TOKEN, 'GET', '/v2/storage/files/999999999');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: 'storage.files.notFound' });
  });
});

describe('providers', () => {
  it('serves Azure exports with a signed manifest url and azure:// entries', async () => {
    const job = await runJob(AZURE_TOKEN, 'POST', '/v2/storage/tables/in.c-az.t/export-async', {
      gzip: true,
    });
    const fileId = (job.results!.file as { id: number }).id;
    const file = (await api(AZURE_TOKEN, 'GET', `/v2/storage/files/${fileId}?federationToken=1`))
      .body;
    expect(file).toMatchObject({ provider: 'azure', region: 'north-europe', isSliced: true });
    expect(file.absPath).toMatchObject({ container: 'exp-15-files-404' });
    const manifest = (await (await fetch(String(file.url))).json()) as {
      entries: { url: string }[];
    };
    expect(manifest.entries).toHaveLength(1);
    expect(manifest.entries[0]!.url).toMatch(
      /^azure:\/\/kbcemulator\.blob\.core\.windows\.net\/exp-15-files-404\/table-exports\//,
    );
  });

  it('refreshes GCS upload credentials', async () => {
    const prepared = await api(BIG_TOKEN, 'POST', '/v2/storage/files/prepare', {
      name: 'x.csv.gz',
      federationToken: true,
    });
    expect(prepared.body.gcsUploadParams).toMatchObject({ token_type: 'Bearer' });
    const refreshed = await api(
      BIG_TOKEN,
      'PUT',
      `/v2/storage/files/${String(prepared.body.id)}/refresh`,
    );
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.gcsUploadParams).toMatchObject({ token_type: 'Bearer' });
  });
});

describe('jobs', () => {
  it('lists jobs newest first and counts job starts per table', async () => {
    emulator.control.resetStats();
    const first = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.returns/export-async',
      {},
    );
    const second = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.returns/export-async',
      {},
    );
    const list = await api(SOURCE_TOKEN, 'GET', '/v2/storage/jobs?limit=2');
    expect((list.body as unknown as Job[]).map((j) => j.id)).toEqual([
      (second.body as unknown as Job).id,
      (first.body as unknown as Job).id,
    ]);
    const stats = emulator.control.stats();
    expect(stats.jobStarts['tableExport in.c-sales.returns']).toBe(2);
    expect(stats.requests['POST /v2/storage/tables/{tableId}/export-async']).toBe(2);
    expect(stats.requests['GET /v2/storage/jobs']).toBe(1);
    await waitForJob(SOURCE_TOKEN, (second.body as unknown as Job).id);
    await waitForJob(SOURCE_TOKEN, (first.body as unknown as Job).id);
    // The status filters: one status or a comma-separated list, to keep or to leave out.
    const ours = [first, second].map((answer) => (answer.body as unknown as Job).id);
    const listed = async (query: string) =>
      (
        (await api(SOURCE_TOKEN, 'GET', `/v2/storage/jobs?limit=100&${query}`))
          .body as unknown as Job[]
      )
        .map((j) => j.id)
        .filter((id) => ours.includes(id));
    expect(await listed('storage_job_status=waiting,processing')).toEqual([]);
    expect(await listed('storage_job_status=success')).toEqual([...ours].reverse());
    expect(await listed('excluded_storage_job_status=success,error')).toEqual([]);
  });

  it('applies jobError and jobStuck faults', async () => {
    emulator.control.addFault({
      kind: 'jobError',
      code: 'storage.backend.timeout',
      message: 'Backend timed out',
      path: 'export-async',
    });
    const failed = await runJob(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.returns/export-async',
      {},
    );
    expect(failed).toMatchObject({
      status: 'error',
      error: { code: 'storage.backend.timeout', message: 'Backend timed out' },
    });
    expect(failed.error!.exceptionId).toMatch(/^keboola-/);

    emulator.control.addFault({ kind: 'jobStuck', path: 'export-async' });
    const stuck = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.returns/export-async',
      {},
    );
    const id = (stuck.body as unknown as Job).id;
    for (let i = 0; i < 5; i += 1) await api(SOURCE_TOKEN, 'GET', `/v2/storage/jobs/${id}`);
    expect((await api(SOURCE_TOKEN, 'GET', `/v2/storage/jobs/${id}`)).body).toMatchObject({
      status: 'processing',
    });
  });

  it('refuses a fault without a path or a known kind over HTTP, and keeps answering', async () => {
    const add = (fault: object) =>
      fetch(`${emulator.url}/_emulator/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(fault),
      });
    const noPath = await add({ kind: 'status', status: 503, count: 1 });
    expect(noPath.status).toBe(400);
    expect(await noPath.text()).toContain('A fault needs \\"path\\"');
    const noKind = await add({ kind: 'explode', path: 'tokens/verify' });
    expect(noKind.status).toBe(400);
    expect(emulator.control.pendingFaults()).toEqual([]);
    expect((await api(SOURCE_TOKEN, 'GET', '/v2/storage/tokens/verify')).status).toBe(200);
  });

  it('holds a job for the job duration set over HTTP, then ends it with its results', async () => {
    const durationMs = 1_500;
    const set = await fetch(`${emulator.url}/_emulator/jobs/duration`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ms: durationMs }),
    });
    expect(set.status).toBe(200);
    try {
      const startedMs = performance.now();
      const job = await runJob(
        SOURCE_TOKEN,
        'POST',
        '/v2/storage/tables/in.c-sales.returns/export-async',
        {},
      );
      // The export itself takes milliseconds; the job ends no sooner than its duration (a timer
      // fires at most a millisecond early against performance.now).
      expect(performance.now() - startedMs).toBeGreaterThanOrEqual(durationMs - 5);
      expect(job.status).toBe('success');
      expect(typeof (job.results as { file?: { id?: unknown } }).file?.id).toBe('number');
    } finally {
      emulator.control.setJobDurationMs(0);
    }
    expect(() => emulator.control.setJobDurationMs(-1)).toThrow(/≥ 0/);
  });

  it('creates the job before an afterHandling status fault (outcome unknown)', async () => {
    emulator.control.resetStats();
    emulator.control.addFault({
      kind: 'status',
      status: 502,
      afterHandling: true,
      method: 'POST',
      path: 'in.c-sales.returns/export-async',
    });
    const answer = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-sales.returns/export-async',
      {},
    );
    expect(answer.status).toBe(502);
    expect(emulator.control.stats().jobStarts['tableExport in.c-sales.returns']).toBe(1);
    const latest = (await api(SOURCE_TOKEN, 'GET', '/v2/storage/jobs?limit=1'))
      .body as unknown as Job[];
    expect(latest[0]).toMatchObject({
      operationName: 'tableExport',
      tableId: 'in.c-sales.returns',
    });
    await waitForJob(SOURCE_TOKEN, latest[0]!.id);
  });

  it('resets the connection before or after handling', async () => {
    emulator.control.resetStats();
    emulator.control.addFault({
      kind: 'reset',
      afterBytes: 5,
      method: 'POST',
      path: 'export-async',
    });
    await expect(
      api(SOURCE_TOKEN, 'POST', '/v2/storage/tables/in.c-sales.returns/export-async', {}),
    ).rejects.toThrow();
    expect(emulator.control.stats().jobStarts['tableExport in.c-sales.returns']).toBeUndefined();
    emulator.control.addFault({
      kind: 'reset',
      afterBytes: 5,
      afterHandling: true,
      method: 'POST',
      path: 'export-async',
    });
    await expect(
      api(SOURCE_TOKEN, 'POST', '/v2/storage/tables/in.c-sales.returns/export-async', {}),
    ).rejects.toThrow();
    expect(emulator.control.stats().jobStarts['tableExport in.c-sales.returns']).toBe(1);
    expect(emulator.control.injectedCount).toBeGreaterThanOrEqual(2);
    await emulator.control.waitForJobs();
  });
});

describe('maintenance and faults', () => {
  it('answers 503 with Retry-After during maintenance', async () => {
    emulator.control.setMaintenance(true, { retryAfterSeconds: 7 });
    const answer = await api(SOURCE_TOKEN, 'GET', '/v2/storage/tokens/verify');
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('7');
    expect(answer.body).toMatchObject({
      status: 'maintenance',
      reason: 'The system is down for maintenance',
    });
    expect(String(answer.body.estimatedEndTime)).toMatch(/\+0000$/);
    emulator.control.setMaintenance(false);
    expect((await api(SOURCE_TOKEN, 'GET', '/v2/storage/tokens/verify')).status).toBe(200);
  });

  it('injects status faults with Retry-After, counted and spent', async () => {
    emulator.control.addFault({
      kind: 'status',
      status: 503,
      retryAfterSeconds: 1,
      path: 'tokens/verify',
      count: 2,
    });
    const first = await api(SOURCE_TOKEN, 'GET', '/v2/storage/tokens/verify');
    const second = await api(SOURCE_TOKEN, 'GET', '/v2/storage/tokens/verify');
    const third = await api(SOURCE_TOKEN, 'GET', '/v2/storage/tokens/verify');
    expect([first.status, second.status, third.status]).toEqual([503, 503, 200]);
    expect(first.headers.get('retry-after')).toBe('1');
  });

  it('revokes the token of a request with the revokeToken fault', async () => {
    const token = emulator.control.createToken(101, {
      bucketPermissions: { 'in.c-sales': 'read' },
    });
    emulator.control.addFault({ kind: 'revokeToken', path: '/v2/storage/buckets' });
    expect((await api(token, 'GET', '/v2/storage/buckets')).status).toBe(401);
  });

  it('drives the same controls over HTTP', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${emulator.url}/_emulator${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('/clock/set', { ms: Date.UTC(2030, 0, 1) })).status).toBe(200);
    const clock = (await (await fetch(`${emulator.url}/_emulator/clock`)).json()) as {
      nowMs: number;
    };
    expect(clock.nowMs).toBe(Date.UTC(2030, 0, 1));
    await post('/maintenance', { on: true, retryAfterSeconds: 3 });
    expect((await api(SOURCE_TOKEN, 'GET', '/v2/storage/tokens/verify')).status).toBe(503);
    await post('/maintenance', { on: false });
    const created = (await (
      await post('/projects/101/tokens', { bucketPermissions: { 'in.c-sales': 'read' } })
    ).json()) as { token: string };
    expect((await api(created.token, 'GET', '/v2/storage/tokens/verify')).status).toBe(200);
    await post('/projects/101/tables/in.c-sales.returns/rows/insert', {
      rows: [{ id: 'r1', reason: 'x' }],
    });
    const rows = (await (
      await fetch(`${emulator.url}/_emulator/projects/101/tables/in.c-sales.returns/rows`)
    ).json()) as Record<string, unknown>[];
    expect(rows).toEqual([
      { id: 'r1', order_id: '', reason: 'x', _timestamp: Date.UTC(2030, 0, 1) / 1000 },
    ]);
    const stats = (await (await fetch(`${emulator.url}/_emulator/stats`)).json()) as Record<
      string,
      unknown
    >;
    expect(stats.requests).toBeDefined();
  });
});

describe('files, create and import', () => {
  it('prepares uploads with AWS upload params and a key under the project', async () => {
    const refused = await api(DEST_WRITE_TOKEN, 'POST', '/v2/storage/files/prepare', {
      name: 'a.csv',
    });
    expect(refused.status).toBe(400);
    const { status, body } = await api(DEST_WRITE_TOKEN, 'POST', '/v2/storage/files/prepare', {
      name: 'a.csv.gz',
      federationToken: true,
      isSliced: true,
    });
    expect(status).toBe(201);
    expect(body).toMatchObject({ isSliced: true, provider: 'aws', name: 'a.csv.gz' });
    expect(typeof body.id).toBe('number');
    const params = body.uploadParams as Record<string, unknown>;
    expect(params).toMatchObject({ acl: 'private', 'x-amz-server-side-encryption': 'AES256' });
    expect(String(params.key)).toMatch(/^exp-15\/202\/files\/\d{4}\/\d\d\/\d\d\/\d+\.a\.csv\.gz$/);
    const refresh = await api(
      DEST_WRITE_TOKEN,
      'PUT',
      `/v2/storage/files/${String(body.id)}/refresh`,
    );
    expect(refresh.status).toBe(400);
  });

  it('creates a table from a header file with a comma-string primary key only', async () => {
    const fileId = await uploadFile(DEST_WRITE_TOKEN, 'id,name\n');
    const arrayKey = await api(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/buckets/in.c-copy/tables-async',
      {
        name: 'people',
        dataFileId: fileId,
        primaryKey: ['id'],
      },
    );
    expect(arrayKey.status).toBe(400);
    expect(arrayKey.body).toMatchObject({ code: 'storage.validation.primaryKey' });
    const badKey = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/buckets/in.c-copy/tables-async',
      {
        name: 'people',
        dataFileId: fileId,
        primaryKey: 'nope',
      },
    );
    expect(badKey.error?.code).toBe('storage.tables.validation.invalidPrimaryKeyColumns');
    const created = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/buckets/in.c-copy/tables-async',
      {
        name: 'people',
        dataFileId: fileId,
        primaryKey: 'id',
      },
    );
    expect(created).toMatchObject({
      status: 'success',
      operationName: 'tableCreate',
      results: {
        id: 'in.c-copy.people',
        columns: ['id', 'name'],
        primaryKey: ['id'],
        rowsCount: 0,
      },
    });
    const readOnly = await api(
      SOURCE_TOKEN,
      'POST',
      '/v2/storage/buckets/in.c-sales/tables-async',
      {
        name: 'x',
        dataFileId: fileId,
      },
    );
    expect(readOnly.status).toBe(403);
  });

  it('creates typed tables from a definition', async () => {
    const job = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/buckets/in.c-copy/tables-definition',
      {
        name: 'typed',
        primaryKeysNames: ['id'],
        columns: [
          { name: 'id', definition: { type: 'NUMBER', length: '38,0', nullable: false } },
          { name: 'label', basetype: 'STRING' },
        ],
      },
    );
    expect(job).toMatchObject({ status: 'success', operationName: 'tableDefinitionCreate' });
    const detail = (await api(DEST_WRITE_TOKEN, 'GET', '/v2/storage/tables/in.c-copy.typed')).body;
    expect(detail).toMatchObject({
      isTyped: true,
      columns: ['id', 'label'],
      primaryKey: ['id'],
      definition: {
        primaryKeysNames: ['id'],
        columns: [
          {
            name: 'id',
            definition: { type: 'NUMBER', length: '38,0', nullable: false },
            basetype: 'NUMERIC',
          },
          { name: 'label', definition: { type: 'VARCHAR' }, basetype: 'STRING' },
        ],
      },
    });
  });

  it('refuses a nullable primary-key column of a typed table, and makes one without nullable not nullable', async () => {
    const refused = await api(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/buckets/in.c-copy/tables-definition',
      {
        name: 'typed_nullable_key',
        primaryKeysNames: ['id'],
        columns: [{ name: 'id', definition: { type: 'VARCHAR', nullable: true } }],
      },
    );
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 'storage.tables.validation' });
    const job = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/buckets/in.c-copy/tables-definition',
      {
        name: 'typed_default_key',
        primaryKeysNames: ['id'],
        columns: [
          { name: 'id', definition: { type: 'VARCHAR' } },
          { name: 'label', basetype: 'STRING' },
        ],
      },
    );
    expect(job).toMatchObject({ status: 'success' });
    const { body } = await api(
      DEST_WRITE_TOKEN,
      'GET',
      '/v2/storage/tables/in.c-copy.typed_default_key',
    );
    const detail = body as unknown as {
      definition: { columns: Array<{ definition: { nullable: boolean } }> };
    };
    expect(detail.definition.columns.map((c) => c.definition.nullable)).toEqual([false, true]);
  });

  it('checks a typed table created through the control API against its project’s backend', async () => {
    const typed = (type: string) => ({
      name: `typed_${type.toLowerCase()}`,
      definition: { columns: [{ name: 'n', definition: { type, length: '38,0' } }] },
    });
    await expect(emulator.control.createTable(202, 'in.c-copy', typed('INT64'))).rejects.toThrow(
      'table.definition.columns.0.definition: Type "INT64" is not a snowflake type.',
    );
    await expect(
      emulator.control.createTable(202, 'in.c-copy', typed('NUMBER')),
    ).resolves.toBeDefined();
  });

  it('imports full, upsert, append, in-file dedupe and extra columns', async () => {
    const header = await uploadFile(DEST_WRITE_TOKEN, 'a,b\n');
    await runJob(DEST_WRITE_TOKEN, 'POST', '/v2/storage/buckets/in.c-copy/tables-async', {
      name: 'pk',
      dataFileId: header,
      primaryKey: 'a',
    });
    await runJob(DEST_WRITE_TOKEN, 'POST', '/v2/storage/buckets/in.c-copy/tables-async', {
      name: 'nopk',
      dataFileId: header,
    });
    const rowsOf = async (table: string) =>
      (await emulator.control.tableRows(202, table)).map((r) => [
        r.a,
        r.b,
        ...(r.c === undefined ? [] : [r.c]),
      ]);
    const load = (table: string, fileId: number, incremental: boolean) =>
      runJob(DEST_WRITE_TOKEN, 'POST', `/v2/storage/tables/${table}/import-async`, {
        dataFileId: fileId,
        columns: ['a', 'b'],
        incremental,
      });

    const dupes = await uploadSliced(DEST_WRITE_TOKEN, ['"a","b"\n"c","d"\n', '"a","b2"\n']);
    const full = await load('in.c-copy.pk', dupes, false);
    expect(full.results).toMatchObject({
      importedColumns: ['a', 'b'],
      warnings: [],
      transaction: null,
      totalRowsCount: 2,
    });
    expect(Object.keys(full.results!).sort()).toEqual([
      'importedColumns',
      'totalDataSizeBytes',
      'totalRowsCount',
      'transaction',
      'warnings',
    ]);
    expect((await rowsOf('in.c-copy.pk')).sort()).toEqual([
      ['a', 'b2'],
      ['c', 'd'],
    ]);

    const update = await uploadSliced(DEST_WRITE_TOKEN, [
      '"a","updated"\n"new","value"\n"new","value"\n',
    ]);
    expect((await load('in.c-copy.pk', update, true)).results).toMatchObject({ totalRowsCount: 3 });
    expect((await rowsOf('in.c-copy.pk')).sort()).toEqual([
      ['a', 'updated'],
      ['c', 'd'],
      ['new', 'value'],
    ]);

    await load('in.c-copy.nopk', update, false);
    const appended = await load('in.c-copy.nopk', update, true);
    expect(appended.results).toMatchObject({ totalRowsCount: 6 });

    const withHeader = await uploadFile(DEST_WRITE_TOKEN, 'a,b,c\nz,1,extra\n');
    const extra = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-copy.nopk/import-async',
      {
        dataFileId: withHeader,
        incremental: true,
      },
    );
    expect(extra.results).toMatchObject({ importedColumns: ['a', 'b', 'c'], totalRowsCount: 7 });
    const detail = (await api(DEST_WRITE_TOKEN, 'GET', '/v2/storage/tables/in.c-copy.nopk')).body;
    expect(detail.columns).toEqual(['a', 'b', 'c']);
  });

  it('runs an import started while the table is being created after the create job (holdWrites)', async () => {
    const { control } = emulator;
    const header = await uploadFile(DEST_WRITE_TOKEN, 'a,b\n');
    // The backend is busy from the create on: the create job has registered the table, but has
    // not yet made it or loaded its (header-only, full) file when the import starts.
    control.addFault({ kind: 'holdWrites', method: 'POST', path: '/tables-async' });
    const create = await api(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/buckets/in.c-copy/tables-async',
      {
        name: 'midcreate',
        dataFileId: header,
      },
    );
    expect(create.status).toBe(202);
    const rows = await uploadSliced(DEST_WRITE_TOKEN, ['"x","1"\n"y","2"\n']);
    let started: Answer | undefined;
    for (let i = 0; i < 100 && started?.status !== 202; i += 1) {
      started = await api(
        DEST_WRITE_TOKEN,
        'POST',
        '/v2/storage/tables/in.c-copy.midcreate/import-async',
        {
          dataFileId: rows,
          columns: ['a', 'b'],
          incremental: true,
        },
      );
      if (started.status !== 202) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(started?.status).toBe(202);
    control.releaseHolds();
    expect((await waitForJob(DEST_WRITE_TOKEN, (create.body as unknown as Job).id)).status).toBe(
      'success',
    );
    const imported = await waitForJob(DEST_WRITE_TOKEN, (started?.body as unknown as Job).id);
    expect(imported).toMatchObject({ status: 'success', results: { totalRowsCount: 2 } });
    const kept = await control.tableRows(202, 'in.c-copy.midcreate');
    expect(kept.map((r) => [r.a, r.b]).sort()).toEqual([
      ['x', '1'],
      ['y', '2'],
    ]);
  });

  it('fails imports with the reference job errors', async () => {
    const header = await uploadFile(DEST_WRITE_TOKEN, 'id,name,missing\n');
    await runJob(DEST_WRITE_TOKEN, 'POST', '/v2/storage/buckets/in.c-copy/tables-async', {
      name: 'strict',
      dataFileId: header,
    });
    const sliced = await uploadSliced(DEST_WRITE_TOKEN, ['"1","x"\n']);
    const noColumns = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-copy.strict/import-async',
      {
        dataFileId: sliced,
      },
    );
    expect(noColumns.error?.code).toBe('csvImport.columnsNotMatch');
    const missing = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-copy.strict/import-async',
      {
        dataFileId: sliced,
        columns: ['id', 'name'],
      },
    );
    expect(missing).toMatchObject({
      status: 'error',
      results: { missingColumns: ['missing'], expectedColumns: ['id', 'name', 'missing'] },
      error: {
        code: 'csvImport.columnsNotMatch',
        message:
          'Some columns are missing in the csv file. Missing columns: missing. Expected columns: id,name,missing. Please check if the expected delimiter "," is used in the csv file.',
      },
    });
    const prepared = await api(DEST_WRITE_TOKEN, 'POST', '/v2/storage/files/prepare', {
      name: 'never.csv.gz',
      federationToken: true,
      isSliced: true,
    });
    const noManifest = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-copy.strict/import-async',
      {
        dataFileId: prepared.body.id,
        columns: ['id', 'name', 'missing'],
      },
    );
    expect(noManifest.error?.code).toBe('storage.manifestFileMissing');
    const params = prepared.body.uploadParams as {
      bucket: string;
      key: string;
      credentials: Credentials;
    };
    const manifest = { entries: [{ url: `s3://${params.bucket}/${params.key}gone.gz` }] };
    await s3Put(
      params.credentials,
      params.bucket,
      `${params.key}manifest`,
      Buffer.from(JSON.stringify(manifest)),
    );
    const gone = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-copy.strict/import-async',
      {
        dataFileId: prepared.body.id,
        columns: ['id', 'name', 'missing'],
      },
    );
    expect(gone.error?.code).toBe('storage.importFileMissing');
    const readOnly = emulator.control.createToken(202, {
      bucketPermissions: { 'in.c-copy': 'read' },
    });
    const denied = await api(readOnly, 'POST', '/v2/storage/tables/in.c-copy.strict/import-async', {
      dataFileId: sliced,
    });
    expect(denied.status).toBe(403);
  });

  it('round-trips an export of the source into the destination', async () => {
    const { rows } = await exportRows(SOURCE_TOKEN, 'in.c-sales.orders', { columns: 'id,status' });
    const header = await uploadFile(DEST_WRITE_TOKEN, 'id,status\n');
    await runJob(DEST_WRITE_TOKEN, 'POST', '/v2/storage/buckets/in.c-copy/tables-async', {
      name: 'orders',
      dataFileId: header,
      primaryKey: 'id',
    });
    const text = rows.map((r) => r.map((v) => `"${v}"`).join(',')).join('\n') + '\n';
    const fileId = await uploadSliced(DEST_WRITE_TOKEN, [text]);
    const job = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-copy.orders/import-async',
      {
        dataFileId: fileId,
        columns: ['id', 'status'],
        incremental: false,
      },
    );
    expect(job.results).toMatchObject({ totalRowsCount: 120_000 });
  });
});

describe('table limits', () => {
  it('holds, exports and imports a table of 1 200 columns (wider than DuckDB’s expression depth)', async () => {
    const columns = Array.from({ length: 1200 }, (_, i) => `col_${String(i).padStart(4, '0')}`);
    const row = (n: number) => columns.map((c) => `${c}-${n}`);
    await emulator.control.createTable(101, 'in.c-sales', {
      name: 'wide',
      columns,
      primaryKey: ['col_0000'],
      rows: [row(1), row(2)],
    });
    await emulator.control.createTable(101, 'in.c-sales', {
      name: 'wide_generated',
      columns,
      generate: { rows: 3 },
    });
    const detail = (await api(SOURCE_TOKEN, 'GET', '/v2/storage/tables/in.c-sales.wide')).body;
    expect(detail.rowsCount).toBe(2);
    expect(detail.dataSizeBytes).toBe(2 * row(1).join('').length);
    expect((await exportRows(SOURCE_TOKEN, 'in.c-sales.wide_generated')).rows).toHaveLength(3);

    const { rows } = await exportRows(SOURCE_TOKEN, 'in.c-sales.wide');
    expect(rows).toEqual([row(1), row(2)]);
    const header = await uploadFile(DEST_WRITE_TOKEN, `${columns.join(',')}\n`);
    await runJob(DEST_WRITE_TOKEN, 'POST', '/v2/storage/buckets/in.c-copy/tables-async', {
      name: 'wide',
      dataFileId: header,
      primaryKey: 'col_0000',
    });
    const text = (list: string[][]) =>
      list.map((r) => r.map((v) => `"${v}"`).join(',')).join('\n') + '\n';
    const importRows = async (list: string[][], incremental: boolean) => {
      const fileId = await uploadSliced(DEST_WRITE_TOKEN, [text(list)]);
      const job = await runJob(
        DEST_WRITE_TOKEN,
        'POST',
        '/v2/storage/tables/in.c-copy.wide/import-async',
        { dataFileId: fileId, columns, incremental },
      );
      expect(job.error).toBeUndefined();
    };
    await importRows(rows, false);
    // An upsert into a table with rows compares every column of the matched rows.
    const changed = row(2).map((v, i) => (i === 1199 ? 'changed' : v));
    await importRows([row(1), changed, row(3)], true);
    const copied = await emulator.control.tableRows(202, 'in.c-copy.wide');
    expect(copied.map((r) => columns.map((c) => r[c]))).toEqual([row(1), changed, row(3)]);
  });

  it('keeps columns whose names differ only in case apart, as Snowflake does (DuckDB folds case)', async () => {
    const columns = ['id', 'ID', 'Id', '_TIMESTAMP'];
    await emulator.control.createTable(101, 'in.c-sales', {
      name: 'cased',
      columns,
      primaryKey: ['ID'],
      rows: [
        ['1', 'one', 'One', 't1'],
        ['2', 'two', 'Two', 't2'],
      ],
    });
    const detail = (await api(SOURCE_TOKEN, 'GET', '/v2/storage/tables/in.c-sales.cased')).body;
    expect(detail).toMatchObject({ columns, primaryKey: ['ID'], rowsCount: 2 });
    const picked = await exportRows(SOURCE_TOKEN, 'in.c-sales.cased', {
      columns: 'ID,id,_TIMESTAMP',
      whereColumn: 'Id',
      whereValues: ['Two'],
    });
    expect(picked.rows).toEqual([['two', '2', 't2']]);
    const { rows } = await exportRows(SOURCE_TOKEN, 'in.c-sales.cased');
    const header = await uploadFile(DEST_WRITE_TOKEN, `${columns.join(',')}\n`);
    await runJob(DEST_WRITE_TOKEN, 'POST', '/v2/storage/buckets/in.c-copy/tables-async', {
      name: 'cased',
      dataFileId: header,
      primaryKey: 'ID',
    });
    const load = async (list: string[][], incremental: boolean) => {
      const text = list.map((r) => r.map((v) => `"${v}"`).join(',')).join('\n');
      const fileId = await uploadSliced(DEST_WRITE_TOKEN, [`${text}\n`]);
      const job = await runJob(
        DEST_WRITE_TOKEN,
        'POST',
        '/v2/storage/tables/in.c-copy.cased/import-async',
        { dataFileId: fileId, columns, incremental },
      );
      expect(job.error).toBeUndefined();
    };
    await load(rows, false);
    await load([['1', 'two', 'changed', 't3']], true);
    const copied = await emulator.control.tableRows(202, 'in.c-copy.cased');
    expect(copied.map((r) => columns.map((c) => r[c]))).toEqual([
      ['1', 'one', 'One', 't1'],
      ['1', 'two', 'changed', 't3'],
    ]);
    expect(Object.keys(copied[0]!).sort()).toEqual([...columns, '_timestamp'].sort());
  });

  it('seeds, filters, exports, imports and deletes values holding a NUL character', async () => {
    const values = [
      ['1', 'a\0b'],
      ['2', '\0'],
      ['3', "it's"],
    ];
    await emulator.control.createTable(101, 'in.c-sales', {
      name: 'nul',
      columns: ['id', 'v'],
      primaryKey: ['id'],
      rows: values,
    });
    expect((await exportRows(SOURCE_TOKEN, 'in.c-sales.nul')).rows).toEqual(values);
    const filtered = await exportRows(SOURCE_TOKEN, 'in.c-sales.nul', {
      whereColumn: 'v',
      whereValues: ['a\0b'],
    });
    expect(filtered.rows).toEqual([['1', 'a\0b']]);
    const header = await uploadFile(DEST_WRITE_TOKEN, 'id,v\n');
    await runJob(DEST_WRITE_TOKEN, 'POST', '/v2/storage/buckets/in.c-copy/tables-async', {
      name: 'nul',
      dataFileId: header,
      primaryKey: 'id',
    });
    const text = values.map((r) => r.map((v) => `"${v}"`).join(',')).join('\n');
    const fileId = await uploadSliced(DEST_WRITE_TOKEN, [`${text}\n`]);
    const job = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-copy.nul/import-async',
      {
        dataFileId: fileId,
        columns: ['id', 'v'],
        incremental: false,
      },
    );
    expect(job.error).toBeUndefined();
    const rowsOf = async () =>
      (await emulator.control.tableRows(202, 'in.c-copy.nul')).map((r) => [r.id, r.v]);
    expect(await rowsOf()).toEqual(values);
    await emulator.control.upsertRows(202, 'in.c-copy.nul', [{ id: '4', v: '\0\0' }]);
    expect(await emulator.control.deleteRows(202, 'in.c-copy.nul', [{ v: '\0' }])).toBe(1);
    expect(await rowsOf()).toEqual([values[0], values[2], ['4', '\0\0']]);
  });

  it('exports and imports a 10 MB value (DuckDB’s CSV reader stops at 2 MB lines by default)', async () => {
    const big = `"${'x'.repeat(10 * 1024 * 1024)}"`;
    await emulator.control.createTable(101, 'in.c-sales', {
      name: 'big_cell',
      columns: ['id', 'v'],
      primaryKey: ['id'],
      rows: [
        ['1', big],
        ['2', 'small'],
      ],
    });
    const { rows } = await exportRows(SOURCE_TOKEN, 'in.c-sales.big_cell');
    expect(rows.map((r) => r[1]?.length)).toEqual([big.length, 5]);
    const header = await uploadFile(DEST_WRITE_TOKEN, 'id,v\n');
    await runJob(DEST_WRITE_TOKEN, 'POST', '/v2/storage/buckets/in.c-copy/tables-async', {
      name: 'big_cell',
      dataFileId: header,
      primaryKey: 'id',
    });
    const text = rows.map((r) => r.map((v) => `"${v.replaceAll('"', '""')}"`).join(',')).join('\n');
    const fileId = await uploadSliced(DEST_WRITE_TOKEN, [`${text}\n`]);
    const job = await runJob(
      DEST_WRITE_TOKEN,
      'POST',
      '/v2/storage/tables/in.c-copy.big_cell/import-async',
      { dataFileId: fileId, columns: ['id', 'v'], incremental: false },
    );
    expect(job.error).toBeUndefined();
    const copied = await emulator.control.tableRows(202, 'in.c-copy.big_cell');
    expect(copied.map((r) => [r.id, r.v === big ? 'big' : r.v])).toEqual([
      ['1', 'big'],
      ['2', 'small'],
    ]);
  });
});
