import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialsExpiredError } from '../../src/objects/errors.js';
import { openSliceSink } from '../../src/objects/slice-sink.js';
import { openSliceSource } from '../../src/objects/slice-source.js';
import { SecretMasker } from '../../src/secrets.js';
import type { FileDetail, PreparedFile } from '../../src/storage/types.js';
import {
  startHttpTestServer,
  type HttpTestServer,
  type RecordedRequest,
  type ScriptedAnswer,
} from '../helpers/http-test-server.js';

/**
 * GCS has no emulator among the dev dependencies: a scripted JSON-API object store on loopback
 * (media upload + alt=media download, bearer tokens checked) stands in for it.
 */
describe('GCS slice transfer against a scripted JSON API', () => {
  let server: HttpTestServer;
  const objects = new Map<string, Buffer>();
  const validTokens = new Set(['ya29.first-token-value', 'ya29.second-token-value']);
  const masker = new SecretMasker();

  function store(request: RecordedRequest): ScriptedAnswer {
    const token = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!validTokens.has(token)) {
      return { status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED' } } };
    }
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(request.path);
    if (request.method === 'POST' && upload && request.query.get('uploadType') === 'media') {
      const name = request.query.get('name') ?? '';
      objects.set(`${upload[1]}/${name}`, request.bodyBytes);
      return { status: 200, body: { name } };
    }
    const download = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(request.path);
    if (request.method === 'GET' && download && request.query.get('alt') === 'media') {
      const data = objects.get(`${download[1]}/${decodeURIComponent(download[2]!)}`);
      return data ? { status: 200, raw: data } : { status: 404, body: { error: { code: 404 } } };
    }
    return { status: 400, body: { error: { code: 400 } } };
  }

  beforeAll(async () => {
    server = await startHttpTestServer();
    server.fallback(store);
  });
  afterAll(async () => {
    await server.close();
  });

  const key = 'exp-15/23058/files/2024/11/09/851783.customers.csv.gz';
  const prepared = (token: string, expiresInSeconds = 3599): PreparedFile => ({
    id: 851783,
    name: 'customers.csv.gz',
    provider: 'gcp',
    region: 'europe-west3',
    isSliced: true,
    gcsUploadParams: {
      projectId: 'kbc-prod',
      bucket: 'kbc-files',
      key,
      access_token: token,
      expires_in: expiresInSeconds,
      token_type: 'Bearer',
    },
  });

  it('round-trips slices, refreshing an upload token that is about to expire', async () => {
    let clockMs = 0;
    let refreshes = 0;
    const data = [0, 1].map((i) => gzipSync(Buffer.from(`"${i}"\n`)));
    const names = ['0000_part_00.gz', '0001_part_00.gz'];
    const sink = openSliceSink(prepared('ya29.first-token-value'), {
      refreshFile: () => {
        refreshes += 1;
        return Promise.resolve(prepared('ya29.second-token-value'));
      },
      endpoints: { gcs: server.url.replace('http://', '') },
      masker,
      now: () => clockMs,
    });
    await sink.put(names[0]!, Readable.from([data[0]!]), data[0]!.length);
    clockMs += 3_400_000; // less than the refresh margin left of the hour
    validTokens.delete('ya29.first-token-value');
    await sink.put(names[1]!, Readable.from([data[1]!]), data[1]!.length);
    await sink.finish(names);
    expect(refreshes).toBe(1);

    const manifest = JSON.parse(objects.get(`kbc-files/${key}manifest`)!.toString()) as unknown;
    expect(manifest).toEqual({
      entries: names.map((name) => ({ url: `gs://kbc-files/${key}${name}`, mandatory: true })),
    });

    const file: FileDetail = {
      id: 851783,
      name: 'customers.csv.gz',
      isSliced: true,
      isEncrypted: true,
      sizeBytes: 0,
      provider: 'gcp',
      region: 'europe-west3',
      url: `${server.url}/storage/v1/b/kbc-files/o/${encodeURIComponent(`${key}manifest`)}?alt=media`,
      gcsPath: { bucket: 'kbc-files', key },
      gcsCredentials: {
        access_token: 'ya29.second-token-value',
        expires_in: 3599,
        token_type: 'Bearer',
        projectId: 'p',
      },
    };
    // The manifest is fetched through its signed URL without a bearer token: serve it openly.
    server.route('GET', `/storage/v1/b/kbc-files/o/${encodeURIComponent(`${key}manifest`)}`, {
      status: 200,
      raw: objects.get(`kbc-files/${key}manifest`)!,
    });
    const source = await openSliceSource(file, {
      refetchFile: () => Promise.resolve(file),
      endpoints: { gcs: server.url },
      masker,
    });
    for (const [i, slice] of source.slices.entries()) {
      const stream = await source.open(slice);
      const chunks: Buffer[] = [];
      for await (const chunk of stream.body) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(data[i]!)).toBe(true);
    }
    expect(masker.mask('ya29.first-token-value ya29.second-token-value')).toBe('[hidden] [hidden]');
  });

  it('refreshes after a 401 and reports CredentialsExpiredError for the caller to retry', async () => {
    validTokens.delete('ya29.revoked-early-token');
    let refreshes = 0;
    const sink = openSliceSink(prepared('ya29.revoked-early-token'), {
      refreshFile: () => {
        refreshes += 1;
        return Promise.resolve(prepared('ya29.second-token-value'));
      },
      endpoints: { gcs: server.url },
      masker,
    });
    const body = Buffer.from('abc');
    const error = await sink.put('x.gz', Readable.from([body]), 3).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialsExpiredError);
    expect((error as CredentialsExpiredError).retryable).toBe(true);
    expect(JSON.stringify(error) + String(error)).not.toContain('ya29.');
    expect(refreshes).toBe(1);
    await sink.put('x.gz', Readable.from([body]), 3);
    expect(objects.get(`kbc-files/${key}x.gz`)?.toString()).toBe('abc');
  });
});
