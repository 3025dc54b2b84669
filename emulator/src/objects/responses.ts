import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { RouteApi } from './routes.js';

/**
 * An object-store error as the provider would send it. Messages never echo credentials,
 * signatures or canonical requests (they can contain the session token).
 */
export interface ObjectError {
  readonly status: number;
  /** S3 / Azure error code; GCS uses the status and message only. */
  readonly code: string;
  readonly message: string;
}

export function objectError(status: number, code: string, message: string): ObjectError {
  return { status, code, message };
}

/** Writes `error` in the format of the API the request addressed (XML for S3/Azure/GCS XML, JSON for GCS JSON). */
export function sendError(
  res: ServerResponse,
  api: RouteApi,
  error: ObjectError,
  headOnly: boolean,
  extraHeaders: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const json = api === 'gcs-json' || api === 'gcs-upload';
  const body = json ? gcsJsonError(error) : xmlError(api, error);
  res.writeHead(error.status, {
    'Content-Type': json ? 'application/json; charset=UTF-8' : 'application/xml',
    'Content-Length': Buffer.byteLength(body),
    ...requestIdHeaders(api),
    ...extraHeaders,
  });
  res.end(headOnly ? undefined : body);
}

function xmlError(api: RouteApi, error: ObjectError): string {
  const requestId =
    api === 'azure'
      ? `\n  <RequestId>${randomBytes(16).toString('hex')}</RequestId>`
      : `\n  <RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId>`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>${escapeXml(error.code)}</Code>\n` +
    `  <Message>${escapeXml(error.message)}</Message>${requestId}\n</Error>\n`
  );
}

function gcsJsonError(error: ObjectError): string {
  return JSON.stringify({
    error: {
      code: error.status,
      message: error.message,
      errors: [{ message: error.message, domain: 'global', reason: error.code }],
    },
  });
}

/** Per-provider request id headers that real responses carry. */
export function requestIdHeaders(api: RouteApi): Record<string, string> {
  if (api === 's3') return { 'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase() };
  if (api === 'azure') {
    return { 'x-ms-request-id': randomBytes(16).toString('hex'), 'x-ms-version': '2021-08-06' };
  }
  return { 'X-GUploader-UploadID': randomBytes(16).toString('base64url') };
}

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
