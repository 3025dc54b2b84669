import { decodeS3PathSegment, safeDecode } from './sigv4.js';

/**
 * Which object-store API a request addresses (pure: request line + Authorization scheme in, route
 * out). Layout, from the emulator contract:
 * - `/azure/{account}/{container}/{blob...}`: Azure Blob.
 * - `/storage/v1/b/{bucket}/o/{object}`: GCS JSON API (object name URL-encoded as one segment);
 *   `/download/storage/v1/b/{bucket}/o/{object}?alt=media` is its download host path.
 * - `/upload/storage/v1/b/{bucket}/o?uploadType=media|resumable&name={object}`: GCS JSON upload;
 *   a resumable session's PUTs add `upload_id`.
 * - `/{bucket}/{key...}`: S3 path-style, or the GCS XML API when the request carries a GCS signed
 *   URL (`X-Goog-Signature`) or a Bearer token.
 */
export type ObjectRoute =
  | { readonly api: 's3'; readonly bucket: string; readonly key: string }
  | {
      readonly api: 'azure';
      readonly account: string;
      readonly bucket: string;
      readonly key: string;
    }
  | {
      readonly api: 'gcs-json';
      readonly bucket: string;
      readonly key: string;
      /** `alt=media`: the bytes; otherwise the object resource JSON. */
      readonly media: boolean;
    }
  | {
      readonly api: 'gcs-upload';
      readonly bucket: string;
      readonly key: string;
      /** `media` (the body is the object), `resumable`, or another (not emulated). */
      readonly uploadType: string;
      /** A resumable session's id (`upload_id`): a PUT to the session URI. */
      readonly uploadId: string | undefined;
    }
  | { readonly api: 'gcs-xml'; readonly bucket: string; readonly key: string }
  /** An object-store path that cannot be parsed (bad escape, missing parts). */
  | {
      readonly api: 'invalid';
      readonly provider: 'aws' | 'azure' | 'gcp';
      readonly reason: string;
    };

export type RouteApi = ObjectRoute['api'];

/** First path segments that belong to the Storage API and control routes, never to S3. */
const RESERVED_ROOTS = new Set(['v2', '_emulator']);
// (`download` and `upload` are GCS's only when followed by `storage/v1`; else S3 buckets.)

/**
 * Routes a request; undefined when the path is not an object path at all (the server answers
 * 404 itself).
 */
export function parseObjectRoute(
  rawPath: string,
  query: URLSearchParams,
  authorization: string | undefined,
): ObjectRoute | undefined {
  const segments = rawPath.split('/').slice(1);
  const [first] = segments;
  if (first === undefined || first === '' || RESERVED_ROOTS.has(first)) return undefined;
  if (first === 'azure') return azureRoute(segments.slice(1));
  if (first === 'storage' && segments[1] === 'v1' && segments[2] === 'b') {
    return gcsJsonRoute(segments.slice(3), query);
  }
  if (
    first === 'download' &&
    segments[1] === 'storage' &&
    segments[2] === 'v1' &&
    segments[3] === 'b'
  ) {
    return gcsJsonRoute(segments.slice(4), query);
  }
  if (first === 'upload' && segments[1] === 'storage' && segments[2] === 'v1') {
    return gcsUploadRoute(segments.slice(3), query);
  }
  const gcs = query.has('X-Goog-Signature') || /^Bearer /i.test(authorization ?? '');
  // S3 reads `+` in a path as a space (a legacy rule its signers follow too); GCS does not.
  const decode = gcs ? safeDecode : decodeS3PathSegment;
  const bucket = decode(first);
  const key = decode(segments.slice(1).join('/'));
  if (bucket === undefined || key === undefined) {
    return { api: 'invalid', provider: 'aws', reason: 'The request path is not valid.' };
  }
  return { api: gcs ? 'gcs-xml' : 's3', bucket, key };
}

function azureRoute(segments: string[]): ObjectRoute {
  const [account, container, ...blob] = segments.map(safeDecode);
  if (!account || !container || blob.some((part) => part === undefined)) {
    return { api: 'invalid', provider: 'azure', reason: 'The requested URI is not valid.' };
  }
  return { api: 'azure', account, bucket: container, key: blob.join('/') };
}

function gcsJsonRoute(segments: string[], query: URLSearchParams): ObjectRoute {
  const [bucketRaw, o, objectRaw, ...rest] = segments;
  const bucket = safeDecode(bucketRaw ?? '');
  const key = safeDecode(objectRaw ?? '');
  if (!bucket || o !== 'o' || !key || rest.length > 0) {
    return { api: 'invalid', provider: 'gcp', reason: 'Not Found' };
  }
  return { api: 'gcs-json', bucket, key, media: query.get('alt') === 'media' };
}

function gcsUploadRoute(segments: string[], query: URLSearchParams): ObjectRoute {
  const [b, bucketRaw, o, ...rest] = segments;
  const bucket = safeDecode(bucketRaw ?? '');
  const key = query.get('name');
  if (b !== 'b' || !bucket || o !== 'o' || rest.length > 0 || !key) {
    return { api: 'invalid', provider: 'gcp', reason: 'Required parameter: name' };
  }
  return {
    api: 'gcs-upload',
    bucket,
    key,
    uploadType: query.get('uploadType') ?? 'media',
    uploadId: query.get('upload_id') ?? undefined,
  };
}
