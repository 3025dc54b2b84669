import aws4 from 'aws4';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EmulatorClock } from '../../src/clock.js';
import { FaultRegistry } from '../../src/faults.js';
import { EmulatedObjectStore } from '../../src/objects/object-store.js';

/** A tiny server that delegates to the store, as the emulator's server does. */
interface Harness {
  readonly store: EmulatedObjectStore;
  readonly clock: EmulatorClock;
  readonly faults: FaultRegistry;
  readonly url: string;
  readonly host: string;
  readonly rootDir: string;
  close(): Promise<void>;
}

async function startHarness(
  options: { bytesPerSecondPerConnection?: number; firstByteLatencyMs?: number } = {},
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
    rootDir,
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

interface SignedS3 {
  readonly url: string;
  readonly path: string;
  readonly headers: Record<string, string | number>;
}

/** Signs an S3 request with the `aws4` package (path-style at the emulator root). */
function signS3(
  h: Harness,
  credentials: AwsCredentials,
  method: string,
  bucket: string,
  key: string,
  options: {
    body?: Buffer;
    headers?: Record<string, string>;
    withoutSessionToken?: boolean;
    signQuery?: boolean;
  } = {},
): SignedS3 {
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const signed = aws4.sign(
    {
      host: h.host,
      path,
      method,
      service: 's3',
      region: 'us-east-1',
      headers: { ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
      ...(options.signQuery ? { signQuery: true } : {}),
    },
    {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      ...(options.withoutSessionToken ? {} : { sessionToken: credentials.SessionToken }),
    },
  );
  const signedPath = signed.path ?? path;
  return {
    url: `${h.url}${signedPath}`,
    path: signedPath,
    headers: signed.headers as Record<string, string | number>,
  };
}

function s3Request(
  h: Harness,
  credentials: AwsCredentials,
  method: string,
  bucket: string,
  key: string,
  options: Parameters<typeof signS3>[5] = {},
): Promise<Answer> {
  const signed = signS3(h, credentials, method, bucket, key, options);
  return send(signed.url, {
    method,
    headers: signed.headers,
    ...(options.body === undefined ? {} : { body: options.body }),
  });
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
      const put = await s3Request(h, credentials, 'PUT', bucket, `${key}0000`, {
        body,
        headers: { 'x-amz-server-side-encryption': 'AES256' },
      });
      expect(put.status).toBe(200);
      expect(put.headers['x-amz-server-side-encryption']).toBe('AES256');
      const path = h.store.objectPath({ bucket, key: `${key}0000` });
      expect(path).toBeDefined();
      const back = await s3Request(h, credentials, 'GET', bucket, `${key}0000`);
      expect(gunzipSync(back.body).toString()).toBe('"1","a"\n');
    });
  });

  it('handles awkward S3 keys the way signers encode them', async () => {
    const bucket = 'kbc-sapi-files';
    const prefix = 'exp/awkward/';
    const key = `${prefix}dir with space/žluť+plus=(1)!.csv`;
    const params = h.store.uploadFields('aws', { bucket, key: prefix }, 3600)['uploadParams'] as {
      credentials: AwsCredentials;
    };
    const put = await s3Request(h, params.credentials, 'PUT', bucket, key, {
      body: Buffer.from('awkward'),
      headers: { 'x-amz-server-side-encryption': 'AES256' },
    });
    expect(put.status).toBe(200);
    expect(h.store.listKeys(bucket, prefix)).toEqual([key]);
    const got = await s3Request(h, params.credentials, 'GET', bucket, key);
    expect(got.body.toString()).toBe('awkward');
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

  describe('S3 credential checks', () => {
    const bucket = 'kbc-sapi-files';
    const prefix = 'exp-15/578/table-exports/checks/7.csv.gz';
    const sliceKey = `${prefix}0000_part_00.gz`;
    let read: AwsCredentials;
    let write: AwsCredentials;
    const uploadKey = 'exp-15/578/files/checks/8.csv.gz';

    beforeEach(async () => {
      await h.store.putObject({ bucket, key: sliceKey }, 'secret rows');
      await h.store.putObject({ bucket, key: 'exp-15/578/other/9.csv' }, 'other file');
      read = h.store.readFields('aws', { bucket, key: prefix }, `${prefix}manifest`, 3600, true)[
        'credentials'
      ] as AwsCredentials;
      write = (
        h.store.uploadFields('aws', { bucket, key: uploadKey }, 3600)['uploadParams'] as {
          credentials: AwsCredentials;
        }
      ).credentials;
    });

    it.each([
      [
        'a wrong secret',
        () => ({ ...read, SecretAccessKey: `${read.SecretAccessKey}x` }),
        {},
        403,
        'SignatureDoesNotMatch',
      ],
      ['no session token', () => read, { withoutSessionToken: true }, 403, 'InvalidAccessKeyId'],
      [
        'a wrong session token',
        () => ({ ...read, SessionToken: 'forged-token-value' }),
        {},
        400,
        'InvalidToken',
      ],
      [
        'an unknown key id',
        () => ({ ...read, AccessKeyId: 'ASIAUNKNOWNUNKNOWN1' }),
        {},
        403,
        'InvalidAccessKeyId',
      ],
    ] as const)('rejects %s', async (_name, credentials, options, status, code) => {
      const before = h.store.stats().rejected;
      const answer = await s3Request(h, credentials(), 'GET', bucket, sliceKey, options);
      expect(answer.status).toBe(status);
      expect(errorCode(answer)).toBe(code);
      expect(answer.body.toString()).not.toContain('secret rows');
      expect(h.store.stats().rejected).toBe(before + 1);
    });

    it('rejects a request changed after signing', async () => {
      const signed = signS3(h, read, 'GET', bucket, sliceKey);
      const answer = await send(signed.url.replace('0000_part_00', '0001_part_00'), {
        headers: signed.headers,
      });
      expect(answer.status).toBe(403);
      expect(errorCode(answer)).toBe('SignatureDoesNotMatch');
    });

    it('rejects keys outside the credential prefix', async () => {
      const answer = await s3Request(h, read, 'GET', bucket, 'exp-15/578/other/9.csv');
      expect(answer.status).toBe(403);
      expect(errorCode(answer)).toBe('AccessDenied');
    });

    it('rejects expired credentials by emulator time', async () => {
      h.clock.advance(3600 * 1000 + 1);
      const answer = await s3Request(h, read, 'GET', bucket, sliceKey);
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('ExpiredToken');
    });

    it('rejects every credential after expireAllCredentials', async () => {
      h.store.expireAllCredentials();
      const answer = await s3Request(h, write, 'HEAD', bucket, uploadKey);
      expect(answer.status).toBe(400);
    });

    it('rejects a PUT with read credentials', async () => {
      const answer = await s3Request(h, read, 'PUT', bucket, `${prefix}0009_part_00.gz`, {
        body: Buffer.from('x'),
        headers: { 'x-amz-server-side-encryption': 'AES256' },
      });
      expect(answer.status).toBe(403);
      expect(errorCode(answer)).toBe('AccessDenied');
      expect(h.store.objectPath({ bucket, key: `${prefix}0009_part_00.gz` })).toBeUndefined();
    });

    it('rejects a PUT without the SSE header the upload params asked for', async () => {
      const answer = await s3Request(h, write, 'PUT', bucket, uploadKey, {
        body: Buffer.from('x'),
      });
      expect(answer.status).toBe(403);
      expect(errorCode(answer)).toBe('AccessDenied');
      expect(h.store.objectPath({ bucket, key: uploadKey })).toBeUndefined();
    });

    it('rejects a body that does not match the signed payload hash', async () => {
      const signed = signS3(h, write, 'PUT', bucket, uploadKey, {
        body: Buffer.from('signed body'),
        headers: { 'x-amz-server-side-encryption': 'AES256' },
      });
      const answer = await send(signed.url, {
        method: 'PUT',
        headers: signed.headers,
        body: 'other body!',
      });
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('XAmzContentSHA256Mismatch');
      expect(h.store.objectPath({ bucket, key: uploadKey })).toBeUndefined();
    });

    it('accepts UNSIGNED-PAYLOAD uploads and presigned requests made with the credentials', async () => {
      const put = await s3Request(h, write, 'PUT', bucket, uploadKey, {
        body: Buffer.from('unsigned'),
        headers: {
          'x-amz-server-side-encryption': 'AES256',
          'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        },
      });
      expect(put.status).toBe(200);
      const presigned = signS3(h, write, 'GET', bucket, uploadKey, { signQuery: true });
      const got = await send(presigned.url);
      expect(got.status).toBe(200);
      expect(got.body.toString()).toBe('unsigned');
    });

    it('serves the presigned url only until it expires, and only for its key', async () => {
      const url = h.store.readFields('aws', { bucket, key: prefix }, sliceKey, 600, false)[
        'url'
      ] as string;
      expect(url).toContain('X-Amz-Signature=');
      expect((await send(url)).status).toBe(200);
      const forged = await send(url.replace('0000_part_00', '0001_part_00'));
      expect(errorCode(forged)).toBe('SignatureDoesNotMatch');
      h.clock.advance(601 * 1000);
      const expired = await send(url);
      expect(expired.status).toBe(403);
      expect(errorCode(expired)).toBe('AccessDenied');
      expect(expired.body.toString()).toContain('Request has expired');
    });
  });

  describe('Azure SAS checks', () => {
    const container = 'exp-15-files-checks';
    const name = 'table-exports/in/c-crm/x/5.csv.gz';
    const blob = `${name}0000_part_00.gz`;

    function sas(fields: Record<string, unknown>): string {
      const text = JSON.stringify(fields);
      return /SharedAccessSignature=([^"]+)/.exec(text)![1]!;
    }

    function blobUrl(key: string, query: string): string {
      return `${h.url}/azure/${h.store.azureAccountName}/${container}/${key}?${query}`;
    }

    beforeEach(async () => {
      await h.store.putObject({ bucket: container, key: blob }, 'azure rows');
    });

    it('refuses writes with the read SAS, tampered permissions and unknown signatures', async () => {
      const readSas = sas(
        h.store.readFields('azure', { bucket: container, key: name }, blob, 3600, true),
      );
      const put = (query: string): Promise<Answer> =>
        send(blobUrl(`${name}0001_part_00.gz`, query), {
          method: 'PUT',
          headers: { 'x-ms-blob-type': 'BlockBlob' },
          body: 'x',
        });
      for (const query of [
        readSas,
        readSas.replace('sp=rl', 'sp=rwl'),
        readSas.replace(/sig=[^&]+/, `sig=${encodeURIComponent('AAAA'.repeat(11))}`),
      ]) {
        const answer = await put(query);
        expect(answer.status).toBe(403);
        expect(errorCode(answer)).toBe('AuthenticationFailed');
      }
      expect(h.store.listKeys(container, `${name}0001`)).toEqual([]);
    });

    it('needs x-ms-blob-type on uploads and keeps writes inside the prefix', async () => {
      const upload = sas(
        h.store.uploadFields('azure', { bucket: container, key: 'up/6.csv' }, 3600),
      );
      const noType = await send(blobUrl('up/6.csv', upload), { method: 'PUT', body: 'x' });
      expect(noType.status).toBe(400);
      expect(errorCode(noType)).toBe('MissingRequiredHeader');
      const outside = await send(blobUrl('elsewhere/6.csv', upload), {
        method: 'PUT',
        headers: { 'x-ms-blob-type': 'BlockBlob' },
        body: 'x',
      });
      expect(outside.status).toBe(403);
      const readBack = await send(blobUrl(blob, upload));
      expect(readBack.status).toBe(403);
    });

    it('rejects an expired SAS', async () => {
      const readSas = sas(
        h.store.readFields('azure', { bucket: container, key: name }, blob, 60, true),
      );
      expect((await send(blobUrl(blob, readSas))).status).toBe(200);
      h.clock.advance(61 * 1000);
      const answer = await send(blobUrl(blob, readSas));
      expect(answer.status).toBe(403);
      expect(errorCode(answer)).toBe('AuthenticationFailed');
    });
  });

  describe('GCS token checks', () => {
    const bucket = 'kbc-files-checks';
    const key = 'exp-15/1/table-exports/g/3.csv.gz';
    const object = `${key}0000_part_00.gz`;
    const mediaUrl = (b: string, o: string): string =>
      `${h.url}/storage/v1/b/${b}/o/${encodeURIComponent(o)}?alt=media`;

    beforeEach(async () => {
      await h.store.putObject({ bucket, key: object }, 'gcs rows');
      await h.store.putObject({ bucket: 'other-bucket', key: object }, 'other');
    });

    it('answers 401 without a valid token and 403 outside the scope', async () => {
      const token = (
        h.store.readFields('gcp', { bucket, key }, object, 3600, true)['gcsCredentials'] as {
          access_token: string;
        }
      ).access_token;
      const anonymous = await send(mediaUrl(bucket, object));
      expect(anonymous.status).toBe(401);
      const unknown = await send(mediaUrl(bucket, object), {
        headers: { Authorization: 'Bearer ya29.unknown' },
      });
      expect(unknown.status).toBe(401);
      expect(JSON.parse(unknown.body.toString())).toMatchObject({
        error: { code: 401, message: 'Invalid Credentials' },
      });
      const otherBucket = await send(mediaUrl('other-bucket', object), {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(otherBucket.status).toBe(403);
      const upload = await send(
        `${h.url}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${encodeURIComponent(`${key}0009`)}`,
        { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: 'x' },
      );
      expect(upload.status).toBe(403);
      const xml = await send(`${h.url}/${bucket}/${object}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(xml.status).toBe(200);
      expect(xml.body.toString()).toBe('gcs rows');
    });

    it('expires tokens and signed urls by emulator time', async () => {
      const fields = h.store.readFields('gcp', { bucket, key }, object, 120, true);
      const token = (fields['gcsCredentials'] as { access_token: string }).access_token;
      const url = fields['url'] as string;
      expect(url).toContain('X-Goog-Signature=');
      const auth = { headers: { Authorization: `Bearer ${token}` } };
      expect((await send(mediaUrl(bucket, object), auth)).status).toBe(200);
      const tampered = await send(
        url.replace(/X-Goog-Signature=[0-9a-f]{4}/, 'X-Goog-Signature=0000'),
      );
      expect(tampered.status).toBe(403);
      h.clock.advance(121 * 1000);
      expect((await send(mediaUrl(bucket, object), auth)).status).toBe(401);
      const expired = await send(url);
      expect(expired.status).toBe(400);
      expect(errorCode(expired)).toBe('ExpiredToken');
    });
  });

  describe('faults', () => {
    const bucket = 'fault-bucket';
    const key = 'exp/faults/1.csv.gz';
    /** 64 KiB of varied CSV, gzipped. */
    const gzipped = gzipSync(
      Array.from({ length: 2000 }, (_, i) => `"${i}","${(i * 7919) % 10007}","row ${i}"`).join(
        '\n',
      ),
    );
    let url: string;

    beforeEach(async () => {
      await h.store.putObject({ bucket, key }, gzipped);
      url = h.store.readFields('aws', { bucket, key }, key, 3600, false)['url'] as string;
    });

    it('serves the object intact without a fault', async () => {
      const answer = await send(url);
      expect(gunzipSync(answer.body).length).toBeGreaterThan(0);
    });

    it('resets the connection after N bytes', async () => {
      h.faults.add({ kind: 'reset', afterBytes: 100, path: key, method: 'GET' });
      const answer = await send(url);
      expect(answer.status).toBe(200);
      expect(answer.headers['content-length']).toBe(String(gzipped.length));
      expect(answer.error).toBeDefined();
      expect(answer.body.length).toBe(100);
    });

    it('truncates gzip so zlib fails, with a matching Content-Length', async () => {
      h.faults.add({ kind: 'truncateGzip', path: key });
      const answer = await send(url);
      expect(answer.error).toBeUndefined();
      expect(answer.body.length).toBe(gzipped.length - 8);
      expect(answer.headers['content-length']).toBe(String(gzipped.length - 8));
      expect(() => gunzipSync(answer.body)).toThrow(/unexpected end of file/);
    });

    it('corrupts gzip in the middle so zlib fails, same length', async () => {
      h.faults.add({ kind: 'corruptGzip', path: key });
      const answer = await send(url);
      expect(answer.body.length).toBe(gzipped.length);
      expect(answer.body.equals(gzipped)).toBe(false);
      expect(() => gunzipSync(answer.body)).toThrow();
    });

    it('declares more bytes than it sends', async () => {
      h.faults.add({ kind: 'contentLengthMismatch', path: key });
      const answer = await send(url);
      expect(Number(answer.headers['content-length'])).toBeGreaterThan(gzipped.length);
      expect(answer.body.length).toBe(gzipped.length);
      expect(answer.error).toBeDefined();
    });

    it('answers an injected status once, then serves again', async () => {
      h.faults.add({ kind: 'status', status: 503, retryAfterSeconds: 2, path: key, count: 1 });
      const failed = await send(url);
      expect(failed.status).toBe(503);
      expect(failed.headers['retry-after']).toBe('2');
      expect(errorCode(failed)).toBe('ServiceUnavailable');
      expect((await send(url)).status).toBe(200);
    });

    it('leaves nothing behind when an upload connection breaks', async () => {
      const uploadKey = 'exp/faults/upload.csv.gz';
      const params = h.store.uploadFields('aws', { bucket, key: uploadKey }, 3600)[
        'uploadParams'
      ] as {
        credentials: AwsCredentials;
      };
      h.faults.add({ kind: 'reset', afterBytes: 1000, path: uploadKey, method: 'PUT' });
      const before = h.store.stats().puts;
      const outcome = await s3Request(h, params.credentials, 'PUT', bucket, uploadKey, {
        body: gzipped,
        headers: { 'x-amz-server-side-encryption': 'AES256' },
      }).then(
        (answer) => answer.status,
        (error: Error) => error.message,
      );
      expect(outcome).not.toBe(200);
      expect(h.store.objectPath({ bucket, key: uploadKey })).toBeUndefined();
      expect(h.store.stats().puts).toBe(before);
      let leftovers = readdirSync(join(h.rootDir, 'tmp')).length;
      for (let i = 0; i < 50 && leftovers > 0; i += 1) {
        await delay(20);
        leftovers = readdirSync(join(h.rootDir, 'tmp')).length;
      }
      expect(leftovers).toBe(0);
    });
  });
});

describe('EmulatedObjectStore throughput model', () => {
  const rate = 4 * 1024 * 1024;
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ bytesPerSecondPerConnection: rate, firstByteLatencyMs: 5 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('paces a 1 MiB download at the configured rate', async () => {
    const size = 1024 * 1024;
    await h.store.putObject({ bucket: 'bench', key: 'big.bin' }, Buffer.alloc(size, 7));
    const url = h.store.readFields(
      'aws',
      { bucket: 'bench', key: 'big.bin' },
      'big.bin',
      60,
      false,
    )['url'] as string;
    const answer = await send(url);
    expect(answer.body.length).toBe(size);
    const { throttle, bytesOut } = h.store.stats();
    expect(bytesOut).toBe(size);
    expect(throttle.throttledBytes).toBe(size);
    // 64 KiB burst, then the rest at 4 MiB/s: 960 KiB / 4 MiB/s = 234.375 ms of schedule.
    expect(throttle.scheduledMs).toBeCloseTo(((size - 64 * 1024) / rate) * 1000, 3);
    expect(throttle.pauses).toBeGreaterThan(0);
  });

  it('paces uploads too', async () => {
    const params = h.store.uploadFields('gcp', { bucket: 'bench', key: 'up/' }, 60)[
      'gcsUploadParams'
    ] as { access_token: string };
    const before = h.store.stats().throttle.throttledBytes;
    const answer = await send(
      `${h.url}/upload/storage/v1/b/bench/o?uploadType=media&name=${encodeURIComponent('up/1.bin')}`,
      {
        method: 'POST',
        headers: { Authorization: `Bearer ${params.access_token}` },
        body: Buffer.alloc(200 * 1024, 1),
      },
    );
    expect(answer.status).toBe(200);
    expect(h.store.stats().throttle.throttledBytes - before).toBe(200 * 1024);
    expect(h.store.stats().bytesIn).toBe(200 * 1024);
  });
});
