/**
 * One Storage API request, end to end: count it, maintenance switch, faults that act before the
 * handler (latency, revokeToken, expireToken, expireCredentials, holdWrites, status, reset), authentication, the route, and
 * faults that act on the finished answer (`afterHandling: true`).
 */
import { indexResponse } from './routes/more-routes.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from './api-error.js';
import type { EmulatorCore } from './core.js';
import type { FaultSpec } from './faults.js';
import { newExceptionId } from './jobs.js';
import { formatPhpTimestamp } from './php-format.js';
import {
  errorResponse,
  json,
  matchRoute,
  parseBody,
  readBody,
  responseBytes,
  stripBranch,
  writeResponse,
  type ApiResponse,
  type Route,
} from './router.js';

/** Logs unexpected handler errors (never request headers or tokens). */
export type ErrorSink = (error: unknown) => void;

export async function handleStorageRequest(
  core: EmulatorCore,
  routes: readonly Route[],
  req: IncomingMessage,
  res: ServerResponse,
  onError: ErrorSink,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator');
  const path = stripBranch(url.pathname);
  const method = (req.method ?? 'GET').toUpperCase();
  const matched = matchRoute(routes, method, path);
  core.state.countRequest(`${method} ${matched?.route.template ?? '(unmatched)'}`);
  if (core.maintenance.on) {
    writeResponse(res, maintenanceResponse(core));
    return;
  }
  const early = await applyBeforeFaults(core, method, path, req);
  if (early?.kind === 'hold' && (await holdRequest(core, req)) === 'gone') {
    // The client went away before the request reached the server: it is never handled.
    req.socket.destroy();
    return;
  }
  if (early?.kind === 'status' && early.handleAfterMs !== undefined) {
    const text = await readBody(req);
    writeResponse(res, faultStatusResponse(early));
    await sleep(early.handleAfterMs);
    await dispatch(core, matched, { method, path, url, req }, onError, text);
    return;
  }
  if (early?.kind === 'status') return writeResponse(res, faultStatusResponse(early));
  if (early?.kind === 'reset' && method !== 'GET') {
    req.socket.destroy();
    return;
  }
  let response = await dispatch(core, matched, { method, path, url, req }, onError);
  const late = core.faults.take(method, path, ['status', 'reset', 'hold'], (s) =>
    isAfterHandling(s),
  );
  if (late?.kind === 'hold' && (await holdRequest(core, req)) === 'gone') {
    req.socket.destroy();
    return;
  }
  if (late?.kind === 'status') response = faultStatusResponse(late);
  const reset = early?.kind === 'reset' ? early : late?.kind === 'reset' ? late : undefined;
  if (reset) return cutResponse(res, response, reset.afterBytes);
  writeResponse(res, response);
}

function isAfterHandling(spec: FaultSpec): boolean {
  return (
    (spec.kind === 'status' || spec.kind === 'reset' || spec.kind === 'hold') &&
    spec.afterHandling === true
  );
}

/** Waits while a `hold` fault keeps the request open; `gone` when the client disconnected. */
function holdRequest(core: EmulatorCore, req: IncomingMessage): Promise<'released' | 'gone'> {
  return core.faults.hold((onGone) => {
    if (req.socket.destroyed) onGone();
    else req.socket.once('close', onGone);
  });
}

function maintenanceResponse(core: EmulatorCore): ApiResponse {
  const end = core.clock.nowMs() + core.maintenance.retryAfterSeconds * 1000;
  return json(
    503,
    {
      status: 'maintenance',
      reason: core.maintenance.reason,
      estimatedEndTime: formatPhpTimestamp(end),
    },
    { 'Retry-After': String(core.maintenance.retryAfterSeconds) },
  );
}

/** Applies latency / revokeToken / expireCredentials; returns a pre-handling status/reset fault. */
async function applyBeforeFaults(
  core: EmulatorCore,
  method: string,
  path: string,
  req: IncomingMessage,
): Promise<FaultSpec | undefined> {
  const faults = core.faults;
  const latency = faults.take(method, path, ['latency']);
  if (latency?.kind === 'latency') await sleep(latency.ms);
  const tokenFault = faults.take(method, path, ['revokeToken', 'expireToken']);
  if (tokenFault) {
    const header = req.headers['x-storageapi-token'];
    const token = core.state.tokens.get(Array.isArray(header) ? (header[0] ?? '') : (header ?? ''));
    if (token && tokenFault.kind === 'revokeToken') token.revoked = true;
    if (token && tokenFault.kind === 'expireToken') token.expiresMs = core.clock.nowMs();
  }
  if (faults.take(method, path, ['expireCredentials'])) core.objectStore.expireAllCredentials();
  if (faults.take(method, path, ['holdWrites'])) core.db.holdWrites(faults.holdUntilReleased());
  return faults.take(method, path, ['status', 'reset', 'hold'], (s) => !isAfterHandling(s));
}

function faultStatusResponse(spec: FaultSpec & { kind: 'status' }): ApiResponse {
  const headers: Record<string, string> = {};
  if (spec.retryAfterSeconds !== undefined) headers['Retry-After'] = String(spec.retryAfterSeconds);
  const body = spec.body ?? {
    error: `Emulated fault: HTTP ${spec.status}`,
    code: 'emulator.fault',
    status: 'error',
    exceptionId: newExceptionId(),
  };
  return json(spec.status, body, headers);
}

/** Sends the headers and the first `afterBytes` bytes of the answer, then destroys the socket. */
function cutResponse(res: ServerResponse, response: ApiResponse, afterBytes: number): void {
  const { headers, body } = responseBytes(response);
  res.writeHead(response.status, headers);
  res.write(body.subarray(0, Math.min(afterBytes, Math.max(0, body.length - 1))), () => {
    res.socket?.destroy();
  });
}

interface RequestInfo {
  readonly method: string;
  readonly path: string;
  readonly url: URL;
  readonly req: IncomingMessage;
}

async function dispatch(
  core: EmulatorCore,
  matched: ReturnType<typeof matchRoute<Route['handler']>>,
  info: RequestInfo,
  onError: ErrorSink,
  /** The body, when it was read before (a request handled after its answer). */
  bodyText?: string,
): Promise<ApiResponse> {
  try {
    const text = bodyText ?? (await readBody(info.req));
    // The index answers without a token, as Storage does.
    if (info.method === 'GET' && /^\/v2\/storage\/?$/.test(info.path)) {
      return indexResponse(core.baseUrl);
    }
    const token = core.authenticate(info.req.headers['x-storageapi-token']);
    if (!matched)
      throw new ApiError(404, 'notFound', `Route "${info.method} ${info.path}" not found.`);
    const runIdHeader = info.req.headers['x-kbc-runid'];
    return await matched.route.handler({
      core,
      token,
      project: core.requireProject(token.projectId),
      method: info.method,
      path: info.path,
      query: info.url.searchParams,
      body: parseBody(text, info.req.headers['content-type']),
      params: matched.params,
      runId: (Array.isArray(runIdHeader) ? runIdHeader[0] : runIdHeader) ?? null,
    });
  } catch (error) {
    if (error instanceof ApiError) return errorResponse(error, newExceptionId());
    onError(error);
    return errorResponse(
      new ApiError(500, 'APPLICATION_ERROR', 'Internal error in the emulator.'),
      newExceptionId(),
    );
  }
}
