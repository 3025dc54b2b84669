import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import aws4 from 'aws4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestError } from '../../src/objects/manifest.js';
import { ObjectStoreError } from '../../src/objects/errors.js';
import { openSliceSink } from '../../src/objects/slice-sink.js';
import { openSliceSource } from '../../src/objects/slice-source.js';
import { SecretMasker } from '../../src/secrets.js';
import type { FileDetail, PreparedFile, S3Credentials } from '../../src/storage/types.js';
import { startHttpTestServer, type HttpTestServer } from '../helpers/http-test-server.js';

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

const BUCKET = 'kbc-sapi-files';
const REGION = 'us-east-1';
const SESSION_TOKEN = 'FwoGZXIvYXdzEJr-session-token-for-the-test';
const credentials: S3Credentials = {
  AccessKeyId: 'S3RVER',
  SecretAccessKey: 'S3RVER',
  SessionToken: SESSION_TOKEN,
  Expiration: '2099-01-01T00:00:00+00:00',
};

function presign(endpoint: string, key: string): string {
  const url = new URL(`${endpoint}/${BUCKET}/${key}`);
  const signed = aws4.sign(
    { host: url.host, path: url.pathname, service: 's3', region: REGION, signQuery: true },
    { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey },
  );
  return `${url.protocol}//${url.host}${signed.path ?? ''}`;
}

function slicesOf(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) =>
    gzipSync(Buffer.from(`"${i}","row ${i}"\n"${i}b","second, row"\n`)),
  );
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('S3 slice transfer against s3rver', () => {
  let directory: string;
  let s3rver: S3rverInstance;
  let endpoint: string;
  const masker = new SecretMasker();
  const errors: unknown[] = [];

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'kts-s3rver-'));
    s3rver = new S3rver({
      port: 0,
      address: '127.0.0.1',
      directory,
      silent: true,
      configureBuckets: [{ name: BUCKET }],
    });
    const { port } = await s3rver.run();
    endpoint = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await s3rver.close();
    await rm(directory, { recursive: true, force: true });
    for (const error of errors) {
      for (const text of [String(error), JSON.stringify(error), (error as Error).stack ?? '']) {
        expect(text).not.toContain(SESSION_TOKEN);
        expect(text).not.toContain('X-Amz-Signature');
      }
    }
  });

  const key = 'exp-15/578/files/2024/02/14/236518630.customers.csv.gz';
  const prepared: PreparedFile = {
    id: 236518630,
    name: 'customers.csv.gz',
    provider: 'aws',
    region: REGION,
    isSliced: true,
    uploadParams: {
      key,
      bucket: BUCKET,
      acl: 'private',
      'x-amz-server-side-encryption': 'AES256',
      credentials,
    },
  };

  function fileDetail(): FileDetail {
    return {
      id: prepared.id,
      name: prepared.name,
      isSliced: true,
      isEncrypted: true,
      sizeBytes: 0,
      provider: 'aws',
      region: REGION,
      url: presign(endpoint, `${key}manifest`),
      s3Path: { bucket: BUCKET, key },
      credentials,
    };
  }

  it('round-trips three gzip slices and the manifest byte-identical, in manifest order', async () => {
    const data = slicesOf(3);
    const names = ['0002_part_00.gz', '0000_part_00.gz', '0001_part_00.gz'];
    const sink = openSliceSink(prepared, {
      refreshFile: () => Promise.reject(new Error('no refresh on S3')),
      endpoints: { s3: endpoint },
      masker,
    });
    for (const [i, name] of names.entries()) {
      await sink.put(name, Readable.from([data[i]!]), data[i]!.length);
    }
    await sink.finish(names);

    const source = await openSliceSource(fileDetail(), {
      refetchFile: () => Promise.resolve(fileDetail()),
      endpoints: { s3: endpoint },
      masker,
    });
    expect(source.slices.map((s) => s.name)).toEqual(names);
    expect(source.slices[0]!.url).toBe(`s3://${BUCKET}/${key}${names[0]}`);
    for (const [i, slice] of source.slices.entries()) {
      const stream = await source.open(slice);
      expect(stream.contentLength).toBe(data[i]!.length);
      expect((await readAll(stream.body)).equals(data[i]!)).toBe(true);
    }
    expect(masker.mask(SESSION_TOKEN)).toBe('[hidden]');
  });

  // s3rver checks the access key id but does not verify SigV4 signatures themselves.
  it('reports a refused access key as a non-retryable error, without leaking the secret', async () => {
    const wrongSecret = 'wrong-secret-access-key-value';
    const sink = openSliceSink(
      {
        ...prepared,
        uploadParams: {
          ...prepared.uploadParams!,
          credentials: { ...credentials, AccessKeyId: 'UNKNOWNKEY', SecretAccessKey: wrongSecret },
        },
      },
      { refreshFile: () => Promise.reject(new Error('x')), endpoints: { s3: endpoint }, masker },
    );
    const body = slicesOf(1)[0]!;
    const error = await sink
      .put('x.gz', Readable.from([body]), body.length)
      .catch((e: unknown) => e);
    errors.push(error);
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect((error as ObjectStoreError).retryable).toBe(false);
    expect((error as Error).message).toContain('answered 403 InvalidAccessKeyId');
    expect(JSON.stringify(error)).not.toContain(wrongSecret);
    expect(masker.mask(wrongSecret)).toBe('[hidden]');
  });

  it('round-trips slices whose names are opaque suffixes of the key', async () => {
    // Suffixes as different backends and uploaders make them; none is parsed, only appended.
    const opaqueKey = 'exp-15/578/files/2024/02/14/236518631.opaque.csv.gz';
    const names = ['.part-00000.gz', '_0_1_0.csv.gz', '/nested/0002 slice+x(1).gz', '-žluť'];
    const data = slicesOf(names.length);
    const sink = openSliceSink(
      { ...prepared, uploadParams: { ...prepared.uploadParams!, key: opaqueKey } },
      { refreshFile: () => Promise.reject(new Error('x')), endpoints: { s3: endpoint }, masker },
    );
    for (const [i, name] of names.entries()) {
      await sink.put(name, Readable.from([data[i]!]), data[i]!.length);
    }
    await sink.finish(names);
    const file = {
      ...fileDetail(),
      url: presign(endpoint, `${opaqueKey}manifest`),
      s3Path: { bucket: BUCKET, key: opaqueKey },
    };
    const source = await openSliceSource(file, {
      refetchFile: () => Promise.resolve(file),
      endpoints: { s3: endpoint },
      masker,
    });
    expect(source.slices.map((s) => s.name)).toEqual(names);
    expect(source.slices.map((s) => s.url)).toEqual(
      names.map((name) => `s3://${BUCKET}/${opaqueKey}${name}`),
    );
    for (const [i, slice] of source.slices.entries()) {
      const stream = await source.open(slice);
      expect((await readAll(stream.body)).equals(data[i]!)).toBe(true);
    }
  });

  it('reads an empty manifest as zero slices', async () => {
    const emptyKey = 'exp-15/578/empty/1.csv.gz';
    const sink = openSliceSink(
      { ...prepared, uploadParams: { ...prepared.uploadParams!, key: emptyKey } },
      { refreshFile: () => Promise.reject(new Error('x')), endpoints: { s3: endpoint }, masker },
    );
    await sink.finish([]);
    const file = {
      ...fileDetail(),
      url: presign(endpoint, `${emptyKey}manifest`),
      s3Path: { bucket: BUCKET, key: emptyKey },
    };
    const source = await openSliceSource(file, {
      refetchFile: () => Promise.resolve(file),
      endpoints: { s3: endpoint },
      masker,
    });
    expect(source.slices).toEqual([]);
  });

  it('rejects a manifest entry outside the file prefix', async () => {
    const otherKey = 'exp-15/578/evil/2.csv.gz';
    const sink = openSliceSink(
      { ...prepared, uploadParams: { ...prepared.uploadParams!, key: otherKey } },
      { refreshFile: () => Promise.reject(new Error('x')), endpoints: { s3: endpoint }, masker },
    );
    await sink.finish(['0000_part_00.gz']);
    // The manifest names objects under otherKey, the file claims key.
    const file = { ...fileDetail(), url: presign(endpoint, `${otherKey}manifest`) };
    const error = await openSliceSource(file, {
      refetchFile: () => Promise.resolve(file),
      endpoints: { s3: endpoint },
      masker,
    }).catch((e: unknown) => e);
    errors.push(error);
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as Error).message).toContain('outside the file');
  });

  it('names provider, bucket and key when an object is missing, without the signature', async () => {
    const source = await openSliceSource(fileDetail(), {
      refetchFile: () => Promise.resolve(fileDetail()),
      endpoints: { s3: endpoint },
      masker,
    });
    const error = await source
      .open({ index: 0, name: source.slices[0]!.name, url: '' })
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(error).toBeUndefined();
    const missing = await openSliceSource(
      { ...fileDetail(), isSliced: false, s3Path: { bucket: BUCKET, key: 'nothing/here.csv.gz' } },
      { refetchFile: () => Promise.resolve(fileDetail()), endpoints: { s3: endpoint }, masker },
    );
    const notFound = await missing.open(missing.slices[0]!).catch((e: unknown) => e);
    errors.push(notFound);
    expect(notFound).toBeInstanceOf(ObjectStoreError);
    expect((notFound as Error).message).toBe(
      `GET aws ${BUCKET}/nothing/here.csv.gz answered 404 NoSuchKey`,
    );
  });
});

describe('S3 credential refresh against a scripted server', () => {
  let server: HttpTestServer;
  beforeAll(async () => {
    server = await startHttpTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('refetches the file once after ExpiredToken and reads with the new credentials', async () => {
    const masker = new SecretMasker();
    const key = 'exp-15/1/t.csv.gz';
    const slicePath = `/b/${key}0000_part_00.gz`;
    server.route('GET', `/b/${key}manifest`, {
      status: 200,
      body: { entries: [{ url: `s3://b/${key}0000_part_00.gz` }] },
    });
    server.route(
      'GET',
      slicePath,
      { status: 400, body: '<Error><Code>ExpiredToken</Code></Error>' },
      (request) => ({
        status: request.headers['x-amz-security-token'] === 'fresh-session-token' ? 200 : 400,
        body: 'data',
      }),
    );
    const file = (token: string): FileDetail => ({
      id: 1,
      name: 't.csv.gz',
      isSliced: true,
      isEncrypted: true,
      sizeBytes: 0,
      provider: 'aws',
      region: 'eu-central-1',
      url: `${server.url}/b/${key}manifest?X-Amz-Signature=secret-signature-value`,
      s3Path: { bucket: 'b', key },
      credentials: { ...credentials, SessionToken: token },
    });
    let refetches = 0;
    const source = await openSliceSource(file('stale-session-token'), {
      refetchFile: () => {
        refetches += 1;
        return Promise.resolve(file('fresh-session-token'));
      },
      endpoints: { s3: server.url },
      masker,
    });
    const stream = await source.open(source.slices[0]!);
    expect((await readAll(stream.body)).toString()).toBe('"data"');
    expect(refetches).toBe(1);
    expect(server.count('GET', slicePath)).toBe(2);
    expect(masker.mask('secret-signature-value fresh-session-token')).toBe('[hidden] [hidden]');
  });
});
