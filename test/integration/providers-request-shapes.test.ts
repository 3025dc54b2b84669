/**
 * The exact requests a sliced upload and a slice download send to each provider
 * (docs/storage-api-notes.md, Reading an exported file; Writing a file into the destination), recorded by a loopback server standing in for the store:
 * S3 PUT with `x-amz-acl` and SSE from `uploadParams` (signed), Azure BlockBlob PUT with the
 * upload SAS, GCS media upload with the Bearer token; manifest written last, in the provider's
 * URL scheme; downloads with SigV4 + session token, the read SAS, or the Bearer token.
 */
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openSliceSink } from '../../src/objects/slice-sink.js';
import { openSliceSource } from '../../src/objects/slice-source.js';
import { SecretMasker } from '../../src/secrets.js';
import type { FileDetail, PreparedFile } from '../../src/storage/types.js';
import {
  startHttpTestServer,
  type HttpTestServer,
  type RecordedRequest,
} from '../helpers/http-test-server.js';

const S3_CREDENTIALS = {
  AccessKeyId: 'ASIASHAPETEST0000001',
  SecretAccessKey: 'shape-test-secret-access-key',
  SessionToken: 'shape-test-session-token',
  Expiration: '2099-01-01T00:00:00+00:00',
};
const SAS = 'sv=2017-11-09&sr=c&se=2099-01-01T00%3A00%3A00Z&sp=rwl&sig=c2hhcGUtdGVzdA%3D%3D';
const GCS_TOKEN = 'ya29.shape-test-token';
const NAMES = ['.part-00000.gz', '.part-00001.gz'];
const BODIES = NAMES.map((_, i) => gzipSync(Buffer.from(`"${i}","x"\n`)));

describe('request shapes per provider', () => {
  let server: HttpTestServer;
  const objects = new Map<string, Buffer>();

  beforeAll(async () => {
    server = await startHttpTestServer();
  });
  beforeEach(() => {
    server.reset();
    objects.clear();
    // A permissive store: keeps what is written (by path, or GCS object name), serves it back.
    server.fallback((request: RecordedRequest) => {
      const gcsUpload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(request.path);
      if (gcsUpload) {
        objects.set(`/${gcsUpload[1]}/${request.query.get('name')}`, request.bodyBytes);
        return { status: 200, body: {} };
      }
      if (request.method === 'PUT') {
        objects.set(request.path, request.bodyBytes);
        return { status: 201, raw: Buffer.alloc(0) };
      }
      const gcsGet = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(request.path);
      const stored = gcsGet
        ? objects.get(`/${gcsGet[1]}/${decodeURIComponent(gcsGet[2] ?? '')}`)
        : objects.get(request.path);
      return stored ? { status: 200, raw: stored } : { status: 404, body: {} };
    });
  });
  afterAll(async () => {
    await server.close();
  });

  async function upload(prepared: PreparedFile): Promise<RecordedRequest[]> {
    const sink = openSliceSink(prepared, {
      refreshFile: () => Promise.reject(new Error('no refresh expected')),
      endpoints: { s3: server.url, gcs: server.url },
      masker: new SecretMasker(),
    });
    for (const [i, name] of NAMES.entries()) {
      await sink.put(name, Readable.from([BODIES[i]!]), BODIES[i]!.length);
    }
    await sink.finish(NAMES);
    return [...server.requests];
  }

  async function download(file: FileDetail): Promise<RecordedRequest[]> {
    server.requests.length = 0;
    const source = await openSliceSource(file, {
      refetchFile: () => Promise.reject(new Error('no refetch expected')),
      endpoints: { s3: server.url, gcs: server.url },
      masker: new SecretMasker(),
    });
    expect(source.slices.map((s) => s.name)).toEqual(NAMES);
    for (const [i, slice] of source.slices.entries()) {
      const stream = await source.open(slice);
      const chunks: Buffer[] = [];
      for await (const chunk of stream.body) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(BODIES[i]!)).toBe(true);
    }
    return [...server.requests];
  }

  function manifestOf(request: RecordedRequest | undefined): string[] {
    const body = request?.body as { entries: Array<{ url: string; mandatory: boolean }> };
    expect(body.entries.every((e) => e.mandatory)).toBe(true);
    return body.entries.map((e) => e.url);
  }

  it('S3: PUT path-style, signed with the session token, ACL and SSE from uploadParams', async () => {
    const key = 'exp-15/578/files/2024/02/14/236518630.t.csv.gz';
    const requests = await upload({
      id: 236518630,
      name: 't.csv.gz',
      provider: 'aws',
      region: 'us-east-1',
      isSliced: true,
      uploadParams: {
        key,
        bucket: 'kbc-sapi-files',
        acl: 'private',
        'x-amz-server-side-encryption': 'AES256',
        credentials: S3_CREDENTIALS,
      },
    });
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `PUT /kbc-sapi-files/${key}${NAMES[0]}`,
      `PUT /kbc-sapi-files/${key}${NAMES[1]}`,
      `PUT /kbc-sapi-files/${key}manifest`,
    ]);
    for (const request of requests) {
      expect(request.headers['x-amz-acl']).toBe('private');
      expect(request.headers['x-amz-server-side-encryption']).toBe('AES256');
      expect(request.headers['x-amz-security-token']).toBe(S3_CREDENTIALS.SessionToken);
      expect(request.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      const authorization = String(request.headers.authorization);
      expect(authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=ASIASHAPETEST0000001\/\d{8}\/us-east-1\/s3\/aws4_request, /,
      );
      const signed = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
      expect(signed).toEqual(
        expect.arrayContaining([
          'host',
          'x-amz-acl',
          'x-amz-content-sha256',
          'x-amz-date',
          'x-amz-security-token',
          'x-amz-server-side-encryption',
        ]),
      );
    }
    expect(requests[0]!.bodyBytes.equals(BODIES[0]!)).toBe(true);
    expect(manifestOf(requests[2])).toEqual(NAMES.map((n) => `s3://kbc-sapi-files/${key}${n}`));

    const reads = await download({
      id: 236518630,
      name: 't.csv.gz',
      isSliced: true,
      isEncrypted: true,
      sizeBytes: 0,
      provider: 'aws',
      region: 'us-east-1',
      url: `${server.url}/kbc-sapi-files/${key}manifest?X-Amz-Signature=abc`,
      s3Path: { bucket: 'kbc-sapi-files', key },
      credentials: S3_CREDENTIALS,
    });
    // The manifest through the signed url, without headers; slices with SigV4.
    expect(reads[0]!.headers.authorization).toBeUndefined();
    expect(reads.slice(1).map((r) => `${r.method} ${r.path}`)).toEqual(
      NAMES.map((n) => `GET /kbc-sapi-files/${key}${n}`),
    );
    for (const read of reads.slice(1)) {
      expect(read.headers['x-amz-security-token']).toBe(S3_CREDENTIALS.SessionToken);
      expect(String(read.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 /);
    }
  });

  it('Azure: BlockBlob PUT through the upload SAS, azure:// manifest entries', async () => {
    const container = 'exp-15-files-4516';
    const blob = 'files/2024/11/09/851783.t.csv.gz';
    const connection = `BlobEndpoint=${server.url}/kbcfsxyz;SharedAccessSignature=${SAS}`;
    const requests = await upload({
      id: 851783,
      name: 't.csv.gz',
      provider: 'azure',
      region: 'north-europe',
      isSliced: true,
      absUploadParams: {
        blobName: blob,
        accountName: 'kbcfsxyz',
        container,
        absCredentials: { SASConnectionString: connection, expiration: '2099-01-01T00:00:00+0100' },
      },
    });
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `PUT /kbcfsxyz/${container}/${blob}${NAMES[0]}`,
      `PUT /kbcfsxyz/${container}/${blob}${NAMES[1]}`,
      `PUT /kbcfsxyz/${container}/${blob}manifest`,
    ]);
    for (const request of requests) {
      expect(request.headers['x-ms-blob-type']).toBe('BlockBlob');
      expect(request.headers['x-ms-version']).toBeDefined();
      expect(request.query.get('sp')).toBe('rwl');
      expect(request.query.get('sig')).toBe('c2hhcGUtdGVzdA==');
      expect(request.headers.authorization).toBeUndefined();
    }
    expect(manifestOf(requests[2])).toEqual(
      NAMES.map((n) => `azure://kbcfsxyz.blob.core.windows.net/${container}/${blob}${n}`),
    );

    const reads = await download({
      id: 851783,
      name: 't.csv.gz',
      isSliced: true,
      isEncrypted: true,
      sizeBytes: 0,
      provider: 'azure',
      region: 'north-europe',
      url: `${server.url}/kbcfsxyz/${container}/${blob}manifest?${SAS}`,
      absPath: { container, name: blob },
      absCredentials: { SASConnectionString: connection, expiration: '2099-01-01T00:00:00+0100' },
    });
    expect(reads.slice(1).map((r) => `${r.method} ${r.path}`)).toEqual(
      NAMES.map((n) => `GET /kbcfsxyz/${container}/${blob}${n}`),
    );
    for (const read of reads.slice(1)) expect(read.query.get('sig')).toBe('c2hhcGUtdGVzdA==');
  });

  it('GCS: media upload with the Bearer token, gs:// manifest entries', async () => {
    const key = 'exp-15/23058/files/2024/11/09/851783.t.csv.gz';
    const requests = await upload({
      id: 851783,
      name: 't.csv.gz',
      provider: 'gcp',
      region: 'europe-west3',
      isSliced: true,
      gcsUploadParams: {
        projectId: 'kbc-prod-1',
        bucket: 'kbc-files-bucket',
        key,
        access_token: GCS_TOKEN,
        expires_in: 3599,
        token_type: 'Bearer',
      },
    });
    expect(
      requests.map(
        (r) => `${r.method} ${r.path} ${r.query.get('uploadType')} ${r.query.get('name')}`,
      ),
    ).toEqual([
      `POST /upload/storage/v1/b/kbc-files-bucket/o media ${key}${NAMES[0]}`,
      `POST /upload/storage/v1/b/kbc-files-bucket/o media ${key}${NAMES[1]}`,
      `POST /upload/storage/v1/b/kbc-files-bucket/o media ${key}manifest`,
    ]);
    for (const request of requests) {
      expect(request.headers.authorization).toBe(`Bearer ${GCS_TOKEN}`);
    }
    expect(manifestOf(requests[2])).toEqual(NAMES.map((n) => `gs://kbc-files-bucket/${key}${n}`));

    const reads = await download({
      id: 851783,
      name: 't.csv.gz',
      isSliced: true,
      isEncrypted: true,
      sizeBytes: 0,
      provider: 'gcp',
      region: 'europe-west3',
      url: `${server.url}/storage/v1/b/kbc-files-bucket/o/${encodeURIComponent(`${key}manifest`)}?alt=media`,
      gcsPath: { bucket: 'kbc-files-bucket', key },
      gcsCredentials: {
        access_token: GCS_TOKEN,
        expires_in: 3599,
        token_type: 'Bearer',
        projectId: 'kbc-prod-1',
      },
    });
    expect(reads.slice(1).map((r) => `${r.method} ${r.path} ${r.query.get('alt')}`)).toEqual(
      NAMES.map(
        (n) => `GET /storage/v1/b/kbc-files-bucket/o/${encodeURIComponent(`${key}${n}`)} media`,
      ),
    );
    for (const read of reads.slice(1)) {
      expect(read.headers.authorization).toBe(`Bearer ${GCS_TOKEN}`);
    }
  });
});
