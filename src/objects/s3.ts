import aws4 from 'aws4';
import type { Readable } from 'node:stream';
import type { S3Credentials } from '../storage/types.js';
import { failedResponse, isSuccess, type ObjectHttp, type ObjectRequest } from './object-http.js';
import type { ProviderAccess } from './provider.js';

/**
 * S3 access with SigV4 (`aws4`) and the session credentials of a file (`x-amz-security-token`).
 * Virtual-hosted `https://{bucket}.s3.{region}.amazonaws.com/{key}` by default; with an endpoint
 * override (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) path-style `{endpoint}/{bucket}/{key}`.
 * Bodies are never hashed: `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
 */

export interface S3Params {
  readonly bucket: string;
  readonly region: string;
  readonly credentials: S3Credentials;
  /** Upload only: `uploadParams.acl`. */
  readonly acl?: string | undefined;
  /** Upload only: `uploadParams['x-amz-server-side-encryption']`. */
  readonly serverSideEncryption?: string | undefined;
}

/** RFC 3986 encoding of each key segment, slashes kept (what SigV4 canonicalises for S3). */
export function encodeS3Key(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/');
}

/** The object URL, virtual-hosted or (with an endpoint override) path-style. */
export function s3ObjectUrl(
  bucket: string,
  key: string,
  region: string,
  endpoint?: string,
): string {
  if (endpoint !== undefined && endpoint !== '') {
    return `${endpoint.replace(/\/+$/, '')}/${bucket}/${encodeS3Key(key)}`;
  }
  return `https://${bucket}.s3.${region}.amazonaws.com/${encodeS3Key(key)}`;
}

/** Signs a request with SigV4; returns the headers to send (Authorization, x-amz-*). */
export function signS3(
  method: string,
  url: string,
  headers: Record<string, string>,
  region: string,
  credentials: S3Credentials,
): Record<string, string> {
  const parsed = new URL(url);
  const signed = aws4.sign(
    {
      method,
      host: parsed.host,
      path: `${parsed.pathname}${parsed.search}`,
      service: 's3',
      region: region || 'us-east-1',
      headers: { ...headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    },
    {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
    },
  );
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers ?? {})) {
    if (value !== undefined) out[name] = String(value);
  }
  delete out['Host'];
  delete out['host'];
  return out;
}

/** `ExpiredToken`, `InvalidToken`, `TokenRefreshRequired`, or a bare 403 on a request that was signed correctly. */
export function isS3CredentialFailure(status: number, code: string | undefined): boolean {
  if (code === 'ExpiredToken' || code === 'InvalidToken' || code === 'TokenRefreshRequired') {
    return true;
  }
  return status === 403 && (code === undefined || code === 'AccessDenied');
}

export function s3Access(
  params: S3Params,
  endpoint: string | undefined,
  http: ObjectHttp,
): ProviderAccess {
  const request = (
    method: 'GET' | 'PUT',
    key: string,
    headers: Record<string, string>,
    body: Readable | Buffer | undefined,
    signal: AbortSignal | undefined,
  ): ObjectRequest => {
    const url = s3ObjectUrl(params.bucket, key, params.region, endpoint);
    return {
      method,
      url,
      headers: signS3(method, url, headers, params.region, params.credentials),
      body,
      signal,
      target: { provider: 'aws', bucket: params.bucket, key },
    };
  };
  return {
    async get(key, signal) {
      const req = request('GET', key, {}, undefined, signal);
      const response = await http(req);
      if (isSuccess(response.status)) return response;
      throw await failedResponse(req, response, isS3CredentialFailure);
    },
    async put(key, body, contentLength, signal) {
      const headers: Record<string, string> = { 'Content-Length': String(contentLength) };
      if (params.acl) headers['x-amz-acl'] = params.acl;
      if (params.serverSideEncryption) {
        headers['x-amz-server-side-encryption'] = params.serverSideEncryption;
      }
      const req = request('PUT', key, headers, body, signal);
      const response = await http(req);
      if (isSuccess(response.status)) {
        response.body.resume();
        return;
      }
      throw await failedResponse(req, response, isS3CredentialFailure);
    },
  };
}
