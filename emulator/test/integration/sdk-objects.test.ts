/**
 * The object endpoints driven by the clouds' own SDKs, as a Keboola client uses them: prepare a
 * file through the Storage API (`files/prepare`, federation token), upload with the upload
 * credentials, read the file detail's read credentials, download in ranged parts. A 20 MiB body
 * per provider, compared by SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BlobServiceClient } from '@azure/storage-blob';
import { Storage } from '@google-cloud/storage';
import { OAuth2Client } from 'google-auth-library';
import { describe, expect, it } from 'vitest';
import { s3ClientFor } from '../helpers/sdk-clients.js';
import type { SeedInput } from '../../src/index.js';
import { useEmulator } from '../helpers/emulator.js';

type Provider = 'aws' | 'azure' | 'gcp';
const PROJECT: Record<Provider, number> = { aws: 701, azure: 702, gcp: 703 };
const token = (provider: Provider): string =>
  `${PROJECT[provider]}-${PROJECT[provider]}1-${'f'.repeat(40)}`;

function seed(): SeedInput {
  return {
    projects: (['aws', 'azure', 'gcp'] as const).map((provider) => ({
      id: PROJECT[provider],
      name: `SDK ${provider}`,
      fileStorageProvider: provider,
      buckets: [{ id: 'in.c-sdk', tables: [] }],
      tokens: [{ token: token(provider), isMasterToken: true, description: 'sdk test' }],
    })),
  };
}

const emulator = useEmulator(seed());
const BODY_BYTES = 20 * 1024 * 1024;
const body = randomBytes(BODY_BYTES);
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

type Json = Record<string, unknown>;

async function storage(
  provider: Provider,
  method: string,
  path: string,
  data?: Json,
): Promise<Json> {
  const response = await fetch(`${emulator.url}/v2/storage/${path}`, {
    method,
    headers: {
      'X-StorageApi-Token': token(provider),
      ...(data ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(data ? { body: JSON.stringify(data) } : {}),
  });
  const text = await response.text();
  expect(response.status, text).toBeLessThan(300);
  return JSON.parse(text) as Json;
}

async function prepare(provider: Provider, name: string, extra: Json = {}): Promise<Json> {
  return storage(provider, 'POST', 'files/prepare', { name, federationToken: true, ...extra });
}

async function fileDetail(provider: Provider, id: unknown): Promise<Json> {
  return storage(provider, 'GET', `files/${String(id)}?federationToken=1`);
}

/** Downloads in fixed-size ranged parts until the object's size is reached (bounded). */
async function rangedParts(
  read: (start: number, endInclusive: number) => Promise<Buffer>,
  sizeBytes: number,
  partBytes: number,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let start = 0; start < sizeBytes; start += partBytes) {
    parts.push(await read(start, Math.min(start + partBytes, sizeBytes) - 1));
  }
  return Buffer.concat(parts);
}

function s3Client(credentials: Json): S3Client {
  return s3ClientFor(emulator.url, credentials);
}

describe('S3 through @aws-sdk/client-s3 and @aws-sdk/lib-storage', () => {
  it('multipart Upload of 20 MiB, then GetObject in ranged parts equals it', async () => {
    const prepared = await prepare('aws', 'big.bin', { sizeBytes: BODY_BYTES });
    const params = prepared.uploadParams as Json;
    const upload = new Upload({
      client: s3Client(params.credentials as Json),
      params: {
        Bucket: String(params.bucket),
        Key: String(params.key),
        Body: body,
        ServerSideEncryption: 'AES256',
      },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    await upload.done();

    const detail = await fileDetail('aws', prepared.id);
    const path = detail.s3Path as Json;
    const client = s3Client(detail.credentials as Json);
    const head = await client.send(
      new HeadObjectCommand({ Bucket: String(path.bucket), Key: String(path.key) }),
    );
    expect(head.ContentLength).toBe(BODY_BYTES);
    const read = async (start: number, end: number): Promise<Buffer> => {
      const answer = await client.send(
        new GetObjectCommand({
          Bucket: String(path.bucket),
          Key: String(path.key),
          Range: `bytes=${start}-${end}`,
        }),
      );
      expect(answer.ContentRange).toBe(`bytes ${start}-${end}/${BODY_BYTES}`);
      return Buffer.from(await answer.Body!.transformToByteArray());
    };
    const copy = await rangedParts(read, BODY_BYTES, 8 * 1024 * 1024);
    expect(sha256(copy)).toBe(sha256(body));

    await expect(
      client.send(
        new GetObjectCommand({
          Bucket: String(path.bucket),
          Key: String(path.key),
          Range: `bytes=${BODY_BYTES}-`,
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidRange', $metadata: { httpStatusCode: 416 } });
  });

  it('a non-sliced file’s upload credentials write its key only; isEncrypted false needs no SSE', async () => {
    const prepared = await prepare('aws', 'plain.csv', { isEncrypted: false });
    const params = prepared.uploadParams as Json;
    expect(params).not.toHaveProperty('x-amz-server-side-encryption');
    const client = s3Client(params.credentials as Json);
    await client.send(
      new PutObjectCommand({ Bucket: String(params.bucket), Key: String(params.key), Body: 'a\n' }),
    );
    await expect(
      client.send(
        new PutObjectCommand({
          Bucket: String(params.bucket),
          Key: `${String(params.key)}_part0001`,
          Body: 'b\n',
        }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  });
});

describe('Azure Blob through @azure/storage-blob', () => {
  it('uploadData of 20 MiB, then download (ranged) and downloadToBuffer equal it', async () => {
    const prepared = await prepare('azure', 'big.bin');
    const params = prepared.absUploadParams as Json;
    const writer = BlobServiceClient.fromConnectionString(
      String((params.absCredentials as Json).SASConnectionString),
    )
      .getContainerClient(String(params.container))
      .getBlockBlobClient(String(params.blobName));
    await writer.uploadData(body);

    const detail = await fileDetail('azure', prepared.id);
    const path = detail.absPath as Json;
    const blob = BlobServiceClient.fromConnectionString(
      String((detail.absCredentials as Json).SASConnectionString),
    )
      .getContainerClient(String(path.container))
      .getBlobClient(String(path.name));
    const whole = await blob.downloadToBuffer(0, undefined, {
      blockSize: 4 * 1024 * 1024,
      concurrency: 2,
    });
    expect(sha256(whole)).toBe(sha256(body));

    const read = async (start: number, end: number): Promise<Buffer> => {
      const answer = await blob.download(start, end - start + 1);
      expect(answer.contentRange).toBe(`bytes ${start}-${end}/${BODY_BYTES}`);
      const chunks: Buffer[] = [];
      for await (const chunk of answer.readableStreamBody!) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    expect(sha256(await rangedParts(read, BODY_BYTES, 8 * 1024 * 1024))).toBe(sha256(body));
    await expect(blob.download(BODY_BYTES, 10)).rejects.toMatchObject({ statusCode: 416 });
  });
});

describe('GCS through @google-cloud/storage', () => {
  /**
   * The library with the file detail's bearer token (an OAuth2 client holding that access token,
   * as Keboola's clients build it) against the emulator's endpoint.
   */
  function gcsClient(accessToken: string, projectId: string): Storage {
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: accessToken, expiry_date: Date.now() + 3_600_000 });
    return new Storage({
      apiEndpoint: emulator.url,
      projectId,
      useAuthWithCustomEndpoint: true,
      authClient,
    });
  }

  /**
   * The resumable-upload wire format, chunk by chunk, as the GCS clients speak it:
   * @google-cloud/storage 7 sends no Authorization header to a custom endpoint when it opens a
   * session (even with `useAuthWithCustomEndpoint`), so that step cannot go through the library.
   */
  async function resumableUpload(params: Json, data: Buffer, chunkBytes: number): Promise<Json> {
    const opened = await fetch(
      `${emulator.url}/upload/storage/v1/b/${encodeURIComponent(String(params.bucket))}/o?uploadType=resumable&name=${encodeURIComponent(String(params.key))}`,
      {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${String(params.access_token)}`,
          'Content-Type': 'application/json',
          'X-Upload-Content-Length': String(data.length),
        },
        body: JSON.stringify({ contentType: 'application/octet-stream' }),
      },
    );
    expect(opened.status).toBe(200);
    const session = opened.headers.get('location')!;
    expect(session).toContain('upload_id=');
    const status = await fetch(session, {
      method: 'PUT',
      headers: { 'Content-Range': `bytes */${data.length}` },
    });
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBeNull();
    let answer: Response | undefined;
    for (let start = 0; start < data.length; start += chunkBytes) {
      const end = Math.min(start + chunkBytes, data.length) - 1;
      answer = await fetch(session, {
        method: 'PUT',
        headers: { 'Content-Range': `bytes ${start}-${end}/${data.length}` },
        body: data.subarray(start, end + 1),
      });
      if (end < data.length - 1) {
        expect(answer.status).toBe(308);
        expect(answer.headers.get('range')).toBe(`bytes=0-${end}`);
      }
    }
    expect(answer?.status).toBe(200);
    return (await answer!.json()) as Json;
  }

  it('resumable upload of 20 MiB, then the library downloads it whole and in ranged parts', async () => {
    const prepared = await prepare('gcp', 'big.bin');
    const resource = await resumableUpload(prepared.gcsUploadParams as Json, body, 8 * 1024 * 1024);
    expect(resource.size).toBe(String(BODY_BYTES));

    const detail = await fileDetail('gcp', prepared.id);
    const path = detail.gcsPath as Json;
    const credentials = detail.gcsCredentials as Json;
    const file = gcsClient(String(credentials.access_token), String(credentials.projectId))
      .bucket(String(path.bucket))
      .file(String(path.key));
    const read = async (start: number, end: number): Promise<Buffer> => {
      const [part] = await file.download({ start, end, validation: false });
      return part;
    };
    expect(sha256(await rangedParts(read, BODY_BYTES, 8 * 1024 * 1024))).toBe(sha256(body));
    const [whole] = await file.download({ validation: false });
    expect(sha256(whole)).toBe(sha256(body));
  });

  it('the JSON API download path and a 416', async () => {
    const prepared = await prepare('gcp', 'small.bin');
    const params = prepared.gcsUploadParams as Json;
    await resumableUpload(params, Buffer.from('0123456789'), 4);
    const url = `${emulator.url}/download/storage/v1/b/${encodeURIComponent(String(params.bucket))}/o/${encodeURIComponent(String(params.key))}?alt=media`;
    const auth = { Authorization: `Bearer ${String(params.access_token)}` };
    const ranged = await fetch(url, { headers: { ...auth, Range: 'bytes=2-5' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 2-5/10');
    expect(await ranged.text()).toBe('2345');
    const beyond = await fetch(url, { headers: { ...auth, Range: 'bytes=10-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */10');
  });
});
