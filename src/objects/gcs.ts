import type { Readable } from 'node:stream';
import { failedResponse, isSuccess, type ObjectHttp, type ObjectRequest } from './object-http.js';
import type { ProviderAccess } from './provider.js';

/**
 * Google Cloud Storage access with the file's OAuth bearer token, through the JSON API:
 * download `{base}/storage/v1/b/{bucket}/o/{key}?alt=media`, media upload
 * `{base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={key}`.
 */

const GCS_DEFAULT_BASE_URL = 'https://storage.googleapis.com';

/** Base URL: the override (STORAGE_EMULATOR_HOST; `http://` added when it has no scheme) or Google. */
export function gcsBaseUrl(endpoint: string | undefined): string {
  if (endpoint === undefined || endpoint.trim() === '') return GCS_DEFAULT_BASE_URL;
  const trimmed = endpoint.trim().replace(/\/+$/, '');
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
}

export function gcsDownloadUrl(base: string, bucket: string, key: string): string {
  return `${base}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(key)}?alt=media`;
}

export function gcsUploadUrl(base: string, bucket: string, key: string): string {
  return `${base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=media&name=${encodeURIComponent(key)}`;
}

/** 401: the bearer token expired (about one hour after it was issued). */
function isGcsCredentialFailure(status: number): boolean {
  return status === 401;
}

export function gcsAccess(
  bucket: string,
  accessToken: () => string,
  endpoint: string | undefined,
  http: ObjectHttp,
): ProviderAccess {
  const base = gcsBaseUrl(endpoint);
  const request = (
    method: 'GET' | 'POST',
    url: string,
    key: string,
    headers: Record<string, string>,
    body: Readable | Buffer | undefined,
    signal: AbortSignal | undefined,
  ): ObjectRequest => ({
    method,
    url,
    headers: { Authorization: `Bearer ${accessToken()}`, ...headers },
    body,
    signal,
    target: { provider: 'gcp', bucket, key },
  });
  return {
    async get(key, signal) {
      const req = request('GET', gcsDownloadUrl(base, bucket, key), key, {}, undefined, signal);
      const response = await http(req);
      if (isSuccess(response.status)) return response;
      throw await failedResponse(req, response, isGcsCredentialFailure);
    },
    async put(key, body, contentLength, signal) {
      // The JSON API's simple media upload is a POST.
      const headers = {
        'Content-Length': String(contentLength),
        'Content-Type': 'application/octet-stream',
      };
      const req = request('POST', gcsUploadUrl(base, bucket, key), key, headers, body, signal);
      const response = await http(req);
      if (isSuccess(response.status)) {
        response.body.resume();
        return;
      }
      throw await failedResponse(req, response, isGcsCredentialFailure);
    },
  };
}
