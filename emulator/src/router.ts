/**
 * Minimal routing for the Storage API routes: path templates (`/v2/storage/tables/{tableId}`) as
 * regexes, handlers that return an {@link ApiResponse} value (so faults can act on the finished
 * answer before it is written), and JSON/form body decoding.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api-error.js';
import type { EmulatorCore } from './core.js';
import type { ProjectState, TokenState } from './model.js';
import { parseFormBody } from './params.js';
import { readCappedBody } from './request-body.js';

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteContext {
  readonly core: EmulatorCore;
  readonly token: TokenState;
  readonly project: ProjectState;
  readonly method: string;
  /** Request path without the query (branch prefix removed). */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: Readonly<Record<string, unknown>>;
  readonly params: Readonly<Record<string, string>>;
  /** `X-KBC-RunId` of the request, or null. */
  readonly runId: string | null;
}

export type RouteHandler = (ctx: RouteContext) => ApiResponse | Promise<ApiResponse>;

export interface Route<H = RouteHandler> {
  readonly method: string;
  /** E.g. `/v2/storage/tables/{tableId}`; also the request-counter key. */
  readonly template: string;
  readonly pattern: RegExp;
  readonly paramNames: readonly string[];
  readonly handler: H;
}

export function route<H = RouteHandler>(method: string, template: string, handler: H): Route<H> {
  const paramNames: string[] = [];
  const source = template
    .split('/')
    .map((part) => {
      const param = /^\{(\w+)\}$/.exec(part);
      if (!param?.[1]) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      paramNames.push(param[1]);
      return '([^/]+)';
    })
    .join('/');
  return { method, template, pattern: new RegExp(`^${source}/?$`), paramNames, handler };
}

export function matchRoute<H>(
  routes: readonly Route<H>[],
  method: string,
  path: string,
): { route: Route<H>; params: Record<string, string> } | undefined {
  for (const candidate of routes) {
    if (candidate.method !== method) continue;
    const match = candidate.pattern.exec(path);
    if (!match) continue;
    const params: Record<string, string> = {};
    candidate.paramNames.forEach((name, i) => {
      params[name] = decodeURIComponent(match[i + 1] ?? '');
    });
    return { route: candidate, params };
  }
  return undefined;
}

/** `/v2/storage/branch/{id}/x` → `/v2/storage/x` (the default branch is the only one). */
export function stripBranch(path: string): string {
  return path.replace(/^\/v2\/storage\/branch\/[^/]+\//, '/v2/storage/');
}

export function json(
  status: number,
  body: unknown,
  headers?: Readonly<Record<string, string>>,
): ApiResponse {
  return headers ? { status, body, headers } : { status, body };
}

/** The error body of docs/storage-api-notes.md, Error answers and codes (`code` "" kept for the missing-token case). */
export function errorResponse(error: ApiError, exceptionId: string): ApiResponse {
  if (error.code === '') return json(error.status, { error: error.message, code: '' });
  return json(error.status, {
    error: error.message,
    code: error.code,
    status: 'error',
    exceptionId,
  });
}

/** The cap of a Storage API request body. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Reads the whole request body (bounded). @throws ApiError 413 past {@link MAX_BODY_BYTES}. */
export function readBody(req: IncomingMessage): Promise<string> {
  return readCappedBody(
    req,
    MAX_BODY_BYTES,
    () => new ApiError(413, 'storage.requestTooLarge', 'Request too large'),
  );
}

/** JSON or form-urlencoded (by Content-Type, else sniffed) into a record. */
export function parseBody(text: string, contentType: string | undefined): Record<string, unknown> {
  if (text.trim() === '') return {};
  const isJson = contentType?.includes('json') ?? /^\s*[[{]/.test(text);
  if (!isJson) return parseFormBody(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'storage.validation', 'Malformed JSON body.');
  }
  if (Array.isArray(value) && value.length === 0) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(400, 'storage.validation', 'The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

/** Serialises an answer; JSON bodies get `Content-Type: application/json` exactly. */
export function responseBytes(response: ApiResponse): {
  headers: Record<string, string>;
  body: Buffer;
} {
  // A Buffer body is sent as is, with the handler's Content-Type (the preview's CSV).
  const raw = Buffer.isBuffer(response.body);
  const body = Buffer.isBuffer(response.body)
    ? response.body
    : response.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(JSON.stringify(response.body));
  const headers: Record<string, string> = { ...response.headers };
  if (response.body !== undefined && !raw) headers['Content-Type'] = 'application/json';
  headers['Content-Length'] = String(body.length);
  return { headers, body };
}

export function writeResponse(res: ServerResponse, response: ApiResponse): void {
  const { headers, body } = responseBytes(response);
  res.writeHead(response.status, headers);
  res.end(body);
}
