/**
 * S3 multipart upload (CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
 * AbortMultipartUpload), as `@aws-sdk/lib-storage` and boto3 drive it for large bodies. Each part
 * streams into its own temp file; completion streams the listed parts, in order, into the object.
 * Authorization happens before (the caller's SigV4 check); this module only keeps the state.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  concatenate,
  type ObjectFiles,
  type PendingObject,
  type StoredObject,
} from './object-files.js';
import { objectError, type ObjectError } from './responses.js';

/** S3's minimum size of every part but the last. */
const MIN_PART_BYTES = 5 * 1024 * 1024;
/** S3's part numbers: 1 to 10 000. */
const MAX_PART_NUMBER = 10_000;

/** Which multipart operation a request is, from its method and query (pure). */
export type MultipartOperation =
  | { readonly op: 'create' }
  | { readonly op: 'part'; readonly uploadId: string; readonly partNumber: number }
  | { readonly op: 'complete'; readonly uploadId: string }
  | { readonly op: 'abort'; readonly uploadId: string }
  | { readonly op: 'invalid'; readonly error: ObjectError };

export function multipartOperation(
  method: string,
  query: URLSearchParams,
): MultipartOperation | undefined {
  const uploadId = query.get('uploadId');
  if (method === 'POST' && query.has('uploads')) return { op: 'create' };
  if (uploadId === null) return undefined;
  if (method === 'POST') return { op: 'complete', uploadId };
  if (method === 'DELETE') return { op: 'abort', uploadId };
  if (method === 'PUT') {
    const partNumber = Number(query.get('partNumber'));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
      return {
        op: 'invalid',
        error: objectError(
          400,
          'InvalidArgument',
          'Part number must be an integer between 1 and 10000, inclusive',
        ),
      };
    }
    return { op: 'part', uploadId, partNumber };
  }
  return undefined;
}

interface Upload {
  readonly bucket: string;
  readonly key: string;
  readonly sse: boolean;
  readonly contentType: string;
  readonly parts: Map<number, PendingObject>;
}

/** A listed part of a CompleteMultipartUpload body. */
export interface ListedPart {
  readonly partNumber: number;
  readonly etag: string;
}

/** Parts of a CompleteMultipartUpload XML body (pure); undefined when it is not one. */
export function parseCompleteBody(xml: string): ListedPart[] | undefined {
  if (!/<CompleteMultipartUpload[\s>]/.test(xml)) return undefined;
  const parts: ListedPart[] = [];
  for (const match of xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
    const body = match[1] ?? '';
    const partNumber = Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(body)?.[1]);
    const etag = /<ETag>\s*([^<]*?)\s*<\/ETag>/.exec(body)?.[1];
    if (!Number.isInteger(partNumber) || etag === undefined) return undefined;
    parts.push({ partNumber, etag: etag.replace(/&quot;/g, '"') });
  }
  return parts;
}

const noSuchUpload = (): ObjectError =>
  objectError(
    404,
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  );

export class S3MultipartUploads {
  readonly #uploads = new Map<string, Upload>();

  constructor(private readonly files: ObjectFiles) {}

  create(bucket: string, key: string, sse: boolean, contentType: string): string {
    const uploadId = randomBytes(24).toString('base64url');
    this.#uploads.set(uploadId, { bucket, key, sse, contentType, parts: new Map() });
    return uploadId;
  }

  /** The upload when it exists for this object. */
  find(uploadId: string, bucket: string, key: string): Upload | ObjectError {
    const upload = this.#uploads.get(uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== key) return noSuchUpload();
    return upload;
  }

  /** Keeps a received part (replacing an earlier one with the same number). */
  async addPart(upload: Upload, partNumber: number, part: PendingObject): Promise<void> {
    const previous = upload.parts.get(partNumber);
    upload.parts.set(partNumber, part);
    if (previous) await this.files.discard(previous);
  }

  /**
   * Joins the listed parts into the object: they must exist with these ETags, ascend, and all but
   * the last hold at least 5 MiB (S3's errors otherwise). Resolves to the object and its
   * multipart ETag (MD5 of the parts' MD5s, `-N`).
   */
  async complete(
    uploadId: string,
    upload: Upload,
    listed: readonly ListedPart[],
    nowMs: number,
  ): Promise<{ object: StoredObject; etag: string } | ObjectError> {
    if (listed.length === 0) {
      return objectError(
        400,
        'MalformedXML',
        'The XML you provided was not well-formed or did not validate against our published schema.',
      );
    }
    const chosen: PendingObject[] = [];
    let previousNumber = 0;
    for (const [index, item] of listed.entries()) {
      if (item.partNumber <= previousNumber) {
        return objectError(
          400,
          'InvalidPartOrder',
          'The list of parts was not in ascending order. The parts list must be specified in order by part number.',
        );
      }
      previousNumber = item.partNumber;
      const part = upload.parts.get(item.partNumber);
      if (!part || item.etag.replace(/"/g, '') !== part.md5Hex) {
        return objectError(
          400,
          'InvalidPart',
          "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        );
      }
      if (index < listed.length - 1 && part.sizeBytes < MIN_PART_BYTES) {
        return objectError(
          400,
          'EntityTooSmall',
          'Your proposed upload is smaller than the minimum allowed object size.',
        );
      }
      chosen.push(part);
    }
    const joined = await this.files.receive(concatenate(chosen.map((part) => part.tempPath)));
    const object = await this.files.commit(joined, upload.bucket, upload.key, {
      sse: upload.sse,
      contentType: upload.contentType,
      nowMs,
    });
    const digest = createHash('md5');
    for (const part of chosen) digest.update(Buffer.from(part.md5Hex, 'hex'));
    await this.abort(uploadId);
    return { object, etag: `"${digest.digest('hex')}-${chosen.length}"` };
  }

  /** Drops the upload and its parts; true when it existed. */
  async abort(uploadId: string): Promise<boolean> {
    const upload = this.#uploads.get(uploadId);
    if (!upload) return false;
    this.#uploads.delete(uploadId);
    await Promise.all([...upload.parts.values()].map((part) => this.files.discard(part)));
    return true;
  }
}
