import aws4 from 'aws4';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EmulatorClock } from '../../src/emulator/clock.js';
import { FaultRegistry } from '../../src/emulator/faults.js';
import { EmulatedObjectStore } from '../../src/emulator/objects/object-store.js';

/** A tiny server that delegates to the store, as the emulator's server does. */
interface Harness {
  readonly store: EmulatedObjectStore;
  readonly clock: EmulatorClock;
  readonly faults: FaultRegistry;
  readonly url: string;
  readonly host: string;
  close(): Promise<void>;
}

async function startHarness(
  options: { bytesPerSecondPerConnection?: number } = {},
): Promise<Harness> {
  const rootDir = mkdtempSync(join(tmpdir(), 'emulator-objects-'));
  const clock = new EmulatorClock();
  const faults = new FaultRegistry();
  const store = new EmulatedObjectStore({ rootDir, clock, faults, ...options });
  const server: Server = createServer((req, res) => {
    if (!store.handle(req, res)) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"error":"not an object path"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  store.setBaseUrl(url);
  return {
    store,
    clock,
    faults,
    url,
    host: `127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(rootDir, { recursive: true, force: true });
    },
  };
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Set when the connection broke before the body was complete. */
  readonly error?: string;
}

/** One real HTTP request; collects the body, and whatever arrived when the connection broke. */
function send(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string | number>;
    body?: Buffer | string;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: options.method ?? 'GET',
      headers: options.headers ?? {},
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      const finish = (error?: string): void =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          ...(error === undefined ? {} : { error }),
        });
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => finish());
      res.on('error', (error) => finish(error.message));
      res.on('aborted', () => finish('aborted'));
    });
    req.end(options.body);
  });
}

function errorCode(answer: Answer): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(answer.body.toString())?.[1];
}

interface AwsCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  SessionToken: string;
}

/** A SigV4-signed S3 request built by the `aws4` package (path-style at the emulator root). */
function s3Request(
  h: Harness,
  credentials: AwsCredentials,
  method: string,
  bucket: string,
  key: string,
  body?: Buffer,
  extraHeaders: Record<string, string> = {},
  omit: { sessionToken?: boolean } = {},
): Promise<Answer> {
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const signed = aws4.sign(
    {
      host: h.host,
      path,
      method,
      service: 's3',
      region: 'us-east-1',
      headers: { ...extraHeaders },
      ...(body === undefined ? {} : { body }),
    },
    {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      ...(omit.sessionToken ? {} : { sessionToken: credentials.SessionToken }),
    },
  );
  const headers = signed.headers as Record<string, string | number>;
  return send(`${h.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
}

describe('EmulatedObjectStore over HTTP', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    h.faults.clear();
  });

  it('stores, lists and locates objects written internally', async () => {
    const bytes = await h.store.putObject({ bucket: 'files', key: 'exp/1/a.csv' }, 'a,b\n');
    await h.store.putObject({ bucket: 'files', key: 'exp/1/b.csv' }, Buffer.from('x'));
    await h.store.putObject({ bucket: 'files', key: 'exp/2/c.csv' }, 'y');
    expect(bytes).toBe(4);
    expect(h.store.listKeys('files', 'exp/1/')).toEqual(['exp/1/a.csv', 'exp/1/b.csv']);
    expect(h.store.objectPath({ bucket: 'files', key: 'exp/1/a.csv' })).toMatch(/a\.csv$/);
    expect(h.store.objectPath({ bucket: 'files', key: 'nope' })).toBeUndefined();
  });

  describe('S3', () => {
    const bucket = 'kbc-sapi-files';
    const prefix = 'exp-15/578/table-exports/t/1.csv.gz';

    it('reads with SigV4 read credentials and the presigned url', async () => {
      await h.store.putObject({ bucket, key: `${prefix}0000_part_00.gz` }, 'slice-0');
      await h.store.putObject({ bucket, key: `${prefix}manifest` }, '{"entries":[]}');
      const fields = h.store.readFields(
        'aws',
        { bucket, key: prefix },
        `${prefix}manifest`,
        3600,
        true,
      );
      expect(fields).toMatchObject({ s3Path: { bucket, key: prefix } });
      const credentials = fields['credentials'] as AwsCredentials & { Expiration: string };
      expect(credentials.AccessKeyId).toMatch(/^ASIA/);
      expect(credentials.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);

      const got = await s3Request(h, credentials, 'GET', bucket, `${prefix}0000_part_00.gz`);
      expect(got.status).toBe(200);
      expect(got.body.toString()).toBe('slice-0');
      expect(got.headers['content-length']).toBe('7');
      expect(got.headers['etag']).toMatch(/^"[0-9a-f]{32}"$/);

      const head = await s3Request(h, credentials, 'HEAD', bucket, `${prefix}0000_part_00.gz`);
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('7');
      expect(head.body.length).toBe(0);

      const manifest = await send(fields['url'] as string);
      expect(manifest.status).toBe(200);
      expect(manifest.body.toString()).toBe('{"entries":[]}');

      const missing = await s3Request(h, credentials, 'GET', bucket, `${prefix}0001_part_00.gz`);
      expect(missing.status).toBe(404);
      expect(errorCode(missing)).toBe('NoSuchKey');
    });

    it('uploads with the prepare credentials and SSE', async () => {
      const key = 'exp-15/578/files/2024/02/14/1.customers.csv.gz';
      const params = h.store.uploadFields('aws', { bucket, key }, 3600)['uploadParams'] as Record<
        string,
        unknown
      >;
      expect(params).toMatchObject({
        key,
        bucket,
        acl: 'private',
        'x-amz-server-side-encryption': 'AES256',
      });
      const credentials = params['credentials'] as AwsCredentials;
      const body = gzipSync('"1","a"\n');
      const put = await s3Request(h, credentials, 'PUT', bucket, `${key}0000`, body, {
        'x-amz-server-side-encryption': 'AES256',
      });
      expect(put.status).toBe(200);
      expect(put.headers['x-amz-server-side-encryption']).toBe('AES256');
      const path = h.store.objectPath({ bucket, key: `${key}0000` });
      expect(path).toBeDefined();
      const back = await s3Request(h, credentials, 'GET', bucket, `${key}0000`);
      expect(gunzipSync(back.body).toString()).toBe('"1","a"\n');
    });
  });

  describe('Azure Blob', () => {
    const container = 'exp-15-files-4516-27364641-2024-11-09';
    const name = 'table-exports/in/c-crm/customers/2.csv.gz';

    function sasOf(
      fields: Record<string, unknown>,
      path: string[],
    ): { endpoint: string; sas: string } {
      let value: unknown = fields;
      for (const step of path) value = (value as Record<string, unknown>)[step];
      const connection = value as string;
      const endpoint = /BlobEndpoint=([^;]+)/.exec(connection)![1]!;
      const sas = /SharedAccessSignature=(.+)$/.exec(connection)![1]!;
      return { endpoint, sas };
    }

    it('reads with the read SAS and writes with the upload SAS', async () => {
      await h.store.putObject({ bucket: container, key: `${name}0000_part_00.gz` }, 'blob-0');
      const read = h.store.readFields(
        'azure',
        { bucket: container, key: name },
        `${name}manifest`,
        3600,
        true,
      );
      expect(read).toMatchObject({ absPath: { container, name } });
      const { endpoint, sas } = sasOf(read, ['absCredentials', 'SASConnectionString']);
      expect(endpoint).toBe(`${h.url}/azure/${h.store.azureAccountName}`);
      expect(sas).toMatch(/^sv=2017-11-09&sr=c&st=.+&se=.+&sp=rl&sig=.+$/);
      const got = await send(`${endpoint}/${container}/${name}0000_part_00.gz?${sas}`);
      expect(got.status).toBe(200);
      expect(got.body.toString()).toBe('blob-0');

      const upload = h.store.uploadFields(
        'azure',
        { bucket: container, key: 'upload/3.csv.gz' },
        3600,
      );
      const up = sasOf(upload, ['absUploadParams', 'absCredentials', 'SASConnectionString']);
      expect(up.sas).toContain('sp=rwl');
      const put = await send(`${up.endpoint}/${container}/upload/3.csv.gz0001?${up.sas}`, {
        method: 'PUT',
        headers: { 'x-ms-blob-type': 'BlockBlob' },
        body: 'uploaded',
      });
      expect(put.status).toBe(201);
      expect(h.store.listKeys(container, 'upload/')).toEqual(['upload/3.csv.gz0001']);
    });
  });

  describe('GCS', () => {
    const bucket = 'kbc-files-bucket';
    const key = 'exp-15/23058/table-exports/in/c-crm/customers/851783.csv.gz';

    it('downloads and uploads with a bearer token, and serves the signed url', async () => {
      await h.store.putObject({ bucket, key: `${key}0000_part_00.gz` }, 'gcs-0');
      await h.store.putObject({ bucket, key: `${key}manifest` }, '{"entries":[]}');
      const read = h.store.readFields('gcp', { bucket, key }, `${key}manifest`, 3600, true);
      const token = (read['gcsCredentials'] as { access_token: string }).access_token;
      const object = encodeURIComponent(`${key}0000_part_00.gz`);
      const got = await send(`${h.url}/storage/v1/b/${bucket}/o/${object}?alt=media`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(got.status).toBe(200);
      expect(got.body.toString()).toBe('gcs-0');
      const signed = await send(read['url'] as string);
      expect(signed.status).toBe(200);
      expect(signed.body.toString()).toBe('{"entries":[]}');

      const upload = h.store.uploadFields('gcp', { bucket, key: 'files/9.csv.gz' }, 3600);
      const params = upload['gcsUploadParams'] as { access_token: string; token_type: string };
      expect(params.token_type).toBe('Bearer');
      const post = await send(
        `${h.url}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent('files/9.csv.gz0000')}`,
        {
          method: 'POST',
          headers: { Authorization: `Bearer ${params.access_token}` },
          body: 'hello',
        },
      );
      expect(post.status).toBe(200);
      expect(JSON.parse(post.body.toString())).toMatchObject({
        name: 'files/9.csv.gz0000',
        size: '5',
      });
    });
  });
});
