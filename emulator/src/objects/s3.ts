/**
 * The S3 object API's own parts: headers, the federation credentials' shape, XML answers and
 * multipart upload (CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
 * AbortMultipartUpload). Routing, signatures and downloads are shared (object-store.ts, auth.ts).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { formatIsoWithColon } from '../php-format.js';
import type { AuthResult } from './auth.js';
import type { IssuedCredential } from './credentials.js';
import type { PendingObject, StoredObject } from './object-files.js';
import { escapeXml, objectError, requestIdHeaders, sendError } from './responses.js';
import type { ObjectRoute } from './routes.js';
import { S3MultipartUploads, parseCompleteBody, type MultipartOperation } from './s3-multipart.js';
import {
  commonObjectHeaders,
  drain,
  etagOf,
  readText,
  type StoreContext,
} from './store-context.js';

export function s3ObjectHeaders(object: StoredObject): OutgoingHttpHeaders {
  return {
    ...commonObjectHeaders(object),
    ...(object.sse ? { 'x-amz-server-side-encryption': 'AES256' } : {}),
  };
}

export function s3UploadHeaders(object: StoredObject): OutgoingHttpHeaders {
  return {
    ETag: etagOf(object),
    ...(object.sse ? { 'x-amz-server-side-encryption': 'AES256' } : {}),
  };
}

/** `credentials` of an S3 file detail or upload params. */
export function awsCredentials(credential: IssuedCredential): Record<string, string> {
  return {
    AccessKeyId: credential.id,
    SecretAccessKey: credential.secret,
    SessionToken: credential.sessionToken,
    Expiration: formatIsoWithColon(credential.expiresAtMs),
  };
}

function sendXml(
  res: ServerResponse,
  status: number,
  body: string,
  extra: OutgoingHttpHeaders = {},
): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(xml),
    ...requestIdHeaders('s3'),
    ...extra,
  });
  res.end(xml);
}

/** Body digest checks of an upload (signed SHA-256, Content-MD5); shared with plain PUTs. */
export type DigestCheck = (
  req: IncomingMessage,
  received: PendingObject,
  auth: Extract<AuthResult, { ok: true }>,
) => ReturnType<typeof objectError> | undefined;

export class S3Api {
  readonly #uploads: S3MultipartUploads;

  constructor(
    private readonly ctx: StoreContext,
    private readonly digestError: DigestCheck,
  ) {
    this.#uploads = new S3MultipartUploads(ctx.files);
  }

  /** S3 CreateMultipartUpload / UploadPart / CompleteMultipartUpload / AbortMultipartUpload. */
  async multipart(
    req: IncomingMessage,
    res: ServerResponse,
    route: Extract<ObjectRoute, { api: 's3' }>,
    operation: MultipartOperation,
    auth: Extract<AuthResult, { ok: true }>,
  ): Promise<void> {
    if (operation.op === 'invalid') {
      sendError(res, 's3', operation.error, false);
      return;
    }
    if (operation.op === 'create') {
      await drain(req);
      const uploadId = this.#uploads.create(
        route.bucket,
        route.key,
        req.headers['x-amz-server-side-encryption'] === 'AES256',
        req.headers['content-type'] ?? 'application/octet-stream',
      );
      sendXml(
        res,
        200,
        `<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${escapeXml(route.bucket)}</Bucket><Key>${escapeXml(route.key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
      );
      return;
    }
    const upload = this.#uploads.find(operation.uploadId, route.bucket, route.key);
    if ('status' in upload) {
      await drain(req);
      sendError(res, 's3', upload, false);
      return;
    }
    if (operation.op === 'abort') {
      await this.#uploads.abort(operation.uploadId);
      res.writeHead(204, requestIdHeaders('s3'));
      res.end();
      return;
    }
    if (operation.op === 'part') {
      const part = await this.ctx.receiveBody(req);
      if (!part) return;
      const digestError = this.digestError(req, part, auth);
      if (digestError) {
        await this.ctx.files.discard(part);
        sendError(res, 's3', digestError, false);
        return;
      }
      await this.#uploads.addPart(upload, operation.partNumber, part);
      res.writeHead(200, {
        ETag: `"${part.md5Hex}"`,
        ...requestIdHeaders('s3'),
        'Content-Length': 0,
      });
      res.end();
      return;
    }
    const body = await readText(req);
    const listed = parseCompleteBody(body);
    if (!listed) {
      sendError(
        res,
        's3',
        objectError(
          400,
          'MalformedXML',
          'The XML you provided was not well-formed or did not validate against our published schema.',
        ),
        false,
      );
      return;
    }
    const done = await this.#uploads.complete(operation.uploadId, upload, listed, this.ctx.nowMs());
    if ('status' in done) {
      sendError(res, 's3', done, false);
      return;
    }
    this.ctx.countPut('aws');
    sendXml(
      res,
      200,
      `<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>${escapeXml(`${this.ctx.baseUrl()}/${route.bucket}/${route.key}`)}</Location><Bucket>${escapeXml(route.bucket)}</Bucket><Key>${escapeXml(route.key)}</Key><ETag>${escapeXml(done.etag)}</ETag></CompleteMultipartUploadResult>`,
      done.object.sse ? { 'x-amz-server-side-encryption': 'AES256' } : {},
    );
  }
}
