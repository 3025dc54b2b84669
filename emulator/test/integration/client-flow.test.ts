/**
 * The Storage API routes the official Keboola clients rely on, end to end, written as a client
 * would: plain HTTP for the API, the AWS SDK for the file uploads and downloads. Create a table
 * from a local CSV, load incrementally and fully, export sliced and merge the slices, list and
 * delete files by tag, follow jobs; plus the routes a client meets around that flow (index,
 * global table list, preview, deletes) and their error bodies.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { s3ClientFor } from '../helpers/sdk-clients.js';
import type { SeedInput } from '../../src/index.js';
import { useEmulator } from '../helpers/emulator.js';

const TOKEN = `801-8011-${'a'.repeat(40)}`;
const READER = `801-8012-${'b'.repeat(40)}`;

function seed(): SeedInput {
  return {
    projects: [
      {
        id: 801,
        name: 'Client flow',
        fileStorageProvider: 'aws',
        buckets: [
          { id: 'in.c-main', tables: [] },
          { id: 'in.c-other', tables: [] },
        ],
        tokens: [
          { token: TOKEN, isMasterToken: true, description: 'master' },
          { token: READER, bucketPermissions: { 'in.c-main': 'read' }, description: 'reader' },
        ],
      },
    ],
  };
}

const emulator = useEmulator(seed());
type Json = Record<string, unknown>;

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
  readonly contentType: string | null;
}

async function api(
  method: string,
  path: string,
  data?: Json,
  token: string | undefined = TOKEN,
): Promise<Answer> {
  const response = await fetch(`${emulator.url}/v2/storage/${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { 'X-StorageApi-Token': token }),
      ...(data ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(data ? { body: JSON.stringify(data) } : {}),
  });
  const text = await response.text();
  const contentType = response.headers.get('content-type');
  const body: unknown = contentType === 'application/json' ? JSON.parse(text) : text;
  return { status: response.status, body, text, contentType };
}

/** Polls a job until it ends (bounded), as the clients do. */
async function waitForJob(job: Json): Promise<Json> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const detail = (await api('GET', `jobs/${String(job.id)}`)).body as Json;
    if (detail.status === 'success' || detail.status === 'error') return detail;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`job ${String(job.id)} did not end`);
}

function s3(credentials: Json): S3Client {
  return s3ClientFor(emulator.url, credentials);
}

/** files/prepare, then a PUT with the upload credentials (SSE as uploadParams ask). */
async function uploadFile(name: string, body: Buffer, tags: string[] = []): Promise<number> {
  const prepared = await api('POST', 'files/prepare', { name, federationToken: true, tags });
  expect(prepared.status).toBe(201);
  const file = prepared.body as Json;
  const params = file.uploadParams as Json;
  await s3(params.credentials as Json).send(
    new PutObjectCommand({
      Bucket: String(params.bucket),
      Key: String(params.key),
      Body: body,
      ServerSideEncryption: 'AES256',
    }),
  );
  return Number(file.id);
}

/** Exports, then downloads every slice through the manifest and merges them (gunzip, concat). */
async function exportRows(tableId: string, params: Json = {}): Promise<string> {
  const started = await api('POST', `tables/${tableId}/export-async`, { gzip: true, ...params });
  expect(started.status, started.text).toBe(202);
  const job = await waitForJob(started.body as Json);
  expect(job.status).toBe('success');
  const fileId = ((job.results as Json).file as Json).id;
  const detail = (await api('GET', `files/${String(fileId)}?federationToken=1`)).body as Json;
  expect(detail.isSliced).toBe(true);
  const path = detail.s3Path as Json;
  const client = s3(detail.credentials as Json);
  const read = async (key: string): Promise<Buffer> => {
    const answer = await client.send(
      new GetObjectCommand({ Bucket: String(path.bucket), Key: key }),
    );
    return Buffer.from(await answer.Body!.transformToByteArray());
  };
  const manifest = JSON.parse((await read(`${String(path.key)}manifest`)).toString()) as {
    entries: { url: string }[];
  };
  const parts: string[] = [];
  for (const entry of manifest.entries) {
    const key = entry.url.replace(`s3://${String(path.bucket)}/`, '');
    parts.push(gunzipSync(await read(key)).toString());
  }
  return parts.join('');
}

const sortedLines = (csv: string): string[] => csv.split('\n').filter(Boolean).sort();

describe('a client’s table flow', () => {
  it('creates a table from a local CSV, loads incrementally and fully, exports sliced and merged', async () => {
    const created = await uploadFile('people.csv', Buffer.from('id,name\n1,Ann\n2,Bob\n'));
    const createJob = await api('POST', 'buckets/in.c-main/tables-async', {
      name: 'people',
      dataFileId: created,
      primaryKey: 'id',
    });
    expect(createJob.status, createJob.text).toBe(202);
    const createdJob = await waitForJob(createJob.body as Json);
    expect(createdJob).toMatchObject({ status: 'success', operationName: 'tableCreate' });
    expect(sortedLines(await exportRows('in.c-main.people'))).toEqual(['"1","Ann"', '"2","Bob"']);

    const increment = await uploadFile('increment.csv.gz', gzipSync('id,name\n2,Bobby\n3,Cyd\n'));
    const incremental = await api('POST', 'tables/in.c-main.people/import-async', {
      dataFileId: increment,
      incremental: true,
    });
    expect((await waitForJob(incremental.body as Json)).status).toBe('success');
    expect(sortedLines(await exportRows('in.c-main.people'))).toEqual([
      '"1","Ann"',
      '"2","Bobby"',
      '"3","Cyd"',
    ]);

    const replacement = await uploadFile('full.csv', Buffer.from('id,name\n9,Zed\n'));
    const full = await api('POST', 'tables/in.c-main.people/import-async', {
      dataFileId: replacement,
      incremental: false,
    });
    expect((await waitForJob(full.body as Json)).status).toBe('success');
    expect(sortedLines(await exportRows('in.c-main.people'))).toEqual(['"9","Zed"']);
  });

  it('exports with whereColumn / whereValues / whereOperator and limit', async () => {
    const file = await uploadFile(
      'colors.csv',
      Buffer.from('id,color\n1,red\n2,blue\n3,red\n4,green\n'),
    );
    const job = await api('POST', 'buckets/in.c-main/tables-async', {
      name: 'colors',
      dataFileId: file,
    });
    expect((await waitForJob(job.body as Json)).status).toBe('success');
    const eq = await exportRows('in.c-main.colors', {
      whereColumn: 'color',
      whereValues: ['red'],
      whereOperator: 'eq',
    });
    expect(sortedLines(eq)).toEqual(['"1","red"', '"3","red"']);
    const ne = await exportRows('in.c-main.colors', {
      whereColumn: 'color',
      whereValues: ['red', 'blue'],
      whereOperator: 'ne',
    });
    expect(sortedLines(ne)).toEqual(['"4","green"']);
    expect(sortedLines(await exportRows('in.c-main.colors', { limit: 2 }))).toHaveLength(2);
    const bad = await api('POST', 'tables/in.c-main.colors/export-async', { whereColumn: 'nope' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'storage.tables.validation.columnNotExists' });
    const snowflake = await api('POST', 'tables/in.c-main.colors/export-async', {
      whereFilters: [{ column: 'id', operator: 'gt', values: ['1'] }],
    });
    expect(snowflake.status).toBe(501);
    expect((snowflake.body as Json).error).toContain('"gt"');

    const preview = await api('GET', 'tables/in.c-main.colors/data-preview?limit=2');
    expect(preview.contentType).toBe('text/csv');
    expect(preview.text).toBe('"id","color"\n"1","red"\n"2","blue"\n');
    const filtered = await api(
      'GET',
      'tables/in.c-main.colors/data-preview?format=json&whereColumn=color&whereValues[]=green',
    );
    expect(filtered.body).toEqual({
      columns: ['id', 'color'],
      rows: [
        [
          { columnName: 'id', value: '4' },
          { columnName: 'color', value: 'green' },
        ],
      ],
    });
  });

  it('lists and deletes files by tag', async () => {
    const tagged = await uploadFile('a.csv', Buffer.from('x\n1\n'), ['copy-job', 'run-7']);
    await uploadFile('b.csv', Buffer.from('x\n2\n'), ['copy-job']);
    const listed = await api('GET', 'files?tags[]=run-7&limit=10');
    expect((listed.body as Json[]).map((f) => f.id)).toEqual([tagged]);
    // Tags match with OR, as in Storage: either tag lists the file.
    const either = await api('GET', 'files?tags[]=copy-job&tags[]=run-7&limit=10');
    expect(either.body).toHaveLength(2);
    expect((await api('GET', 'files?tags[]=copy-job&limit=1&offset=1')).body).toHaveLength(1);
    expect((await api('DELETE', `files/${tagged}`)).status).toBe(204);
    expect((await api('GET', 'files?tags[]=run-7')).body).toEqual([]);
    const gone = await api('GET', `files/${tagged}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ code: 'storage.files.notFound', status: 'error' });
  });

  it('follows jobs, lists tables, deletes tables and buckets', async () => {
    const file = await uploadFile('t.csv', Buffer.from('id\n1\n'));
    const job = (
      await api('POST', 'buckets/in.c-other/tables-async', { name: 't', dataFileId: file })
    ).body as Json;
    const detail = await waitForJob(job);
    // As the real service lists it: no table id, the file in its parameters, the table in results.
    expect(detail).toMatchObject({
      id: job.id,
      status: 'success',
      tableId: null,
      operationParams: { source: { type: 'file', fileId: file } },
      results: { id: 'in.c-other.t' },
    });

    const all = (await api('GET', 'tables?include=buckets')).body as Json[];
    expect(all.map((t) => t.id)).toContain('in.c-other.t');
    const readerView = (await api('GET', 'tables', undefined, READER)).body as Json[];
    expect(readerView.every((t) => String(t.id).startsWith('in.c-main.'))).toBe(true);

    const notEmpty = await api('DELETE', 'buckets/in.c-other');
    expect(notEmpty.status).toBe(400);
    expect(notEmpty.body).toMatchObject({ code: 'buckets.deleteNotEmpty' });
    const forced = await api('DELETE', 'buckets/in.c-other?force=1&async=1');
    expect(forced.status).toBe(202);
    expect(await waitForJob(forced.body as Json)).toMatchObject({
      status: 'success',
      operationName: 'bucketDelete',
    });
    expect((await api('GET', 'buckets/in.c-other')).status).toBe(404);

    expect((await api('DELETE', 'tables/in.c-main.colors', undefined, READER)).status).toBe(403);
    expect((await api('DELETE', 'tables/in.c-main.colors')).status).toBe(204);
    const missing = await api('GET', 'tables/in.c-main.colors');
    expect(missing.body).toMatchObject({ code: 'storage.tables.notFound' });
  });

  it('deletes a metadata item', async () => {
    const posted = await api('POST', 'tables/in.c-main.people/metadata', {
      provider: 'client-test',
      metadata: [{ key: 'k', value: 'v' }],
    });
    const item = ((posted.body as Json).metadata as Json[]).find((m) => m.key === 'k')!;
    expect(
      (await api('DELETE', `tables/in.c-main.people/metadata/${String(item.id)}`)).status,
    ).toBe(204);
    const again = await api('DELETE', `tables/in.c-main.people/metadata/${String(item.id)}`);
    expect(again.status).toBe(404);
    expect(again.body).toMatchObject({ code: 'storage.metadata.notFound' });
  });
});

describe('the API’s edges', () => {
  it('names an unknown route in its 404', async () => {
    const answer = await api('GET', 'no-such-thing');
    expect(answer.status).toBe(404);
    expect((answer.body as Json).error).toContain('GET /v2/storage/no-such-thing');
  });

  it('answers object operations it does not emulate with 501 naming them', async () => {
    const azure = await fetch(`${emulator.url}/azure/kbcemulator/c/blob?comp=block&blockid=AA`, {
      method: 'PUT',
      body: 'x',
    });
    expect(azure.status).toBe(501);
    expect(await azure.text()).toContain('Azure comp=block');
    const gcs = await fetch(`${emulator.url}/upload/storage/v1/b/b/o?uploadType=multipart&name=x`, {
      method: 'POST',
      headers: { Authorization: 'Bearer nothing' },
      body: 'x',
    });
    expect(gcs.status).toBe(501);
    expect(await gcs.text()).toContain('uploadType=multipart');
  });

  it('answers the index without a token', async () => {
    const index = await api('GET', '', undefined, undefined);
    expect(index.status).toBe(200);
    expect(index.body).toMatchObject({ api: 'storage', services: [{ id: 'storage' }] });
  });

  it('answers a known real route it does not emulate with 501 naming it', async () => {
    const answer = await api('POST', 'tables/in.c-main.people/snapshots', {});
    expect(answer.status).toBe(501);
    expect(answer.body).toMatchObject({ code: 'notImplemented', status: 'error' });
    expect((answer.body as Json).error).toContain('POST /v2/storage/tables/{tableId}/snapshots');
  });
});
