/**
 * The GCS object API's own parts (JSON API and XML API): headers, the object resource, and
 * resumable uploads (session open, chunks, status). Routing, bearer and V4-signature checks and
 * downloads are shared (object-store.ts, auth.ts).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { GcsResumableUploads, parseUploadRange, type SessionAnswer } from './gcs-resumable.js';
import type { StoredObject } from './object-files.js';
import { objectError, requestIdHeaders, sendError } from './responses.js';
import type { ObjectRoute } from './routes.js';
import {
  commonObjectHeaders,
  drain,
  etagOf,
  readText,
  type StoreContext,
} from './store-context.js';

export function gcsObjectHeaders(object: StoredObject): OutgoingHttpHeaders {
  const md5Base64 = Buffer.from(object.md5Hex, 'hex').toString('base64');
  return {
    ...commonObjectHeaders(object),
    'x-goog-generation': String(object.generation),
    'x-goog-metageneration': '1',
    'x-goog-hash': `md5=${md5Base64}`,
    'x-goog-stored-content-length': String(object.sizeBytes),
    'x-goog-storage-class': 'STANDARD',
  };
}

export function gcsUploadHeaders(object: StoredObject): OutgoingHttpHeaders {
  return { ETag: etagOf(object), 'x-goog-generation': String(object.generation) };
}

/** The JSON API's object resource. */
export function gcsResource(baseUrl: string, object: StoredObject): Record<string, unknown> {
  const encodedName = encodeURIComponent(object.key);
  const base = `${baseUrl}/storage/v1/b/${encodeURIComponent(object.bucket)}/o/${encodedName}`;
  const time = new Date(object.lastModifiedMs).toISOString();
  return {
    kind: 'storage#object',
    id: `${object.bucket}/${object.key}/${object.generation}`,
    selfLink: base,
    mediaLink: `${base}?generation=${object.generation}&alt=media`,
    name: object.key,
    bucket: object.bucket,
    generation: String(object.generation),
    metageneration: '1',
    contentType: object.contentType,
    storageClass: 'STANDARD',
    size: String(object.sizeBytes),
    md5Hash: Buffer.from(object.md5Hex, 'hex').toString('base64'),
    etag: etagOf(object),
    timeCreated: time,
    updated: time,
    timeStorageClassUpdated: time,
  };
}

/** JSON answer (GCS JSON API). */
export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headOnly: boolean,
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=UTF-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(headOnly ? undefined : body);
}

export class GcsApi {
  readonly #sessions: GcsResumableUploads;

  constructor(private readonly ctx: StoreContext) {
    this.#sessions = new GcsResumableUploads(ctx.files);
  }

  /** GCS `uploadType=resumable` POST: opens a session; its URI is the `Location` header. */
  async openResumable(
    req: IncomingMessage,
    res: ServerResponse,
    route: Extract<ObjectRoute, { api: 'gcs-upload' }>,
  ): Promise<void> {
    const metadata = await readText(req);
    let contentType = req.headersDistinct['x-upload-content-type']?.[0];
    try {
      const parsed =
        metadata.trim() === '' ? {} : (JSON.parse(metadata) as { contentType?: unknown });
      if (typeof parsed.contentType === 'string') contentType = parsed.contentType;
    } catch {
      sendError(res, 'gcs-upload', objectError(400, 'parseError', 'Parse Error'), false);
      return;
    }
    const id = this.#sessions.open(
      route.bucket,
      route.key,
      contentType ?? 'application/octet-stream',
    );
    const location = `${this.ctx.baseUrl()}/upload/storage/v1/b/${encodeURIComponent(route.bucket)}/o?uploadType=resumable&name=${encodeURIComponent(route.key)}&upload_id=${id}`;
    this.ctx.addIssuedSecret(id);
    res.writeHead(200, {
      Location: location,
      ...requestIdHeaders('gcs-upload'),
      'Content-Length': 0,
    });
    res.end();
  }

  /** A PUT to a resumable session: a chunk, or a status query (`bytes *\/…`). */
  async resumableChunk(req: IncomingMessage, res: ServerResponse, uploadId: string): Promise<void> {
    const range = parseUploadRange(req.headers['content-range']);
    if (!this.#sessions.has(uploadId) || range === undefined) {
      await drain(req);
      const error =
        range === undefined
          ? objectError(400, 'invalid', 'Failed to parse Content-Range header.')
          : objectError(404, 'notFound', 'No such upload session.');
      sendError(res, 'gcs-upload', error, false);
      return;
    }
    let answer: SessionAnswer;
    if (range.kind === 'status') {
      await drain(req);
      answer = await this.#sessions.status(uploadId, range.totalBytes, this.ctx.nowMs());
    } else {
      const chunk = await this.ctx.receiveBody(req);
      if (!chunk) return;
      answer = await this.#sessions.addChunk(uploadId, range, chunk, this.ctx.nowMs());
    }
    if (answer.kind === 'complete') {
      this.ctx.countPut('gcp');
      sendJson(res, 200, gcsResource(this.ctx.baseUrl(), answer.object), false);
      return;
    }
    if (answer.kind === 'notFound') {
      sendError(res, 'gcs-upload', objectError(404, 'notFound', 'No such upload session.'), false);
      return;
    }
    res.writeHead(308, {
      ...(answer.receivedBytes > 0 ? { Range: `bytes=0-${answer.receivedBytes - 1}` } : {}),
      ...requestIdHeaders('gcs-upload'),
      'Content-Length': 0,
    });
    res.end();
  }
}
