/**
 * Token management routes (docs/tokens.md, "The Storage API facts"): list, detail, create, refresh,
 * delete and events, with the real API's rules:
 * - any token sees, refreshes and reads the events of itself; other tokens need `canManageTokens`
 *   (admin and share masters), else 403 `accessDenied`;
 * - only master tokens create tokens: admin and share with every option, guest with only
 *   `description` and `expiresIn` honoured (everything else silently ignored), read-only never;
 * - a limited token may delete itself; master tokens cannot be deleted;
 * - refresh gives a new string at once; the old one answers 401 from then on.
 */
import { randomBytes } from 'node:crypto';
import { ApiError, accessDenied, validationError } from '../api-error.js';
import { canManageTokens, type TokenState } from '../model.js';
import { scalarText } from '../params.js';
import { json, route, type ApiResponse, type Route, type RouteContext } from '../router.js';
import { managedTokenView, tokenEventView } from '../views.js';

export const tokenRoutes: readonly Route[] = [
  route('GET', '/v2/storage/tokens', listTokens),
  route('POST', '/v2/storage/tokens', createToken),
  route('GET', '/v2/storage/tokens/{tokenId}', tokenDetail),
  route('DELETE', '/v2/storage/tokens/{tokenId}', deleteToken),
  route('POST', '/v2/storage/tokens/{tokenId}/refresh', refreshToken),
  route('GET', '/v2/storage/tokens/{tokenId}/events', tokenEvents),
];

const DEFAULT_EVENT_LIMIT = 100;

function view(ctx: RouteContext, token: TokenState, withSecret: boolean): Record<string, unknown> {
  return managedTokenView(token, ctx.project, ctx.core.baseUrl, ctx.core.clock.nowMs(), withSecret);
}

function listTokens(ctx: RouteContext): ApiResponse {
  if (!canManageTokens(ctx.token)) return json(200, [view(ctx, ctx.token, false)]);
  const live = [...ctx.core.state.tokens.values()].filter(
    (t) => t.projectId === ctx.project.id && !t.revoked,
  );
  return json(
    200,
    live.map((t) => view(ctx, t, false)),
  );
}

/** The token named in the path, when the caller may act on it: itself, or any with canManageTokens. */
function targetToken(ctx: RouteContext): TokenState {
  const id = ctx.params.tokenId ?? '';
  if (id === ctx.token.id) return ctx.token;
  if (!canManageTokens(ctx.token)) throw accessDenied();
  const target = ctx.core.state.findTokenById(ctx.project.id, id);
  if (!target) throw new ApiError(404, 'storage.tokens.notFound', `Token ${id} not found`);
  return target;
}

function tokenDetail(ctx: RouteContext): ApiResponse {
  return json(200, view(ctx, targetToken(ctx), false));
}

function createToken(ctx: RouteContext): ApiResponse {
  const creator = ctx.token;
  if (!creator.isMasterToken || creator.role === 'readOnly') throw accessDenied();
  const honoursAll = creator.role !== 'guest';
  const description =
    typeof ctx.body.description === 'string' && ctx.body.description !== ''
      ? ctx.body.description
      : `Created by ${creator.description}`;
  const expiresInSeconds = parseExpiresIn(ctx.body.expiresIn);
  const nowMs = ctx.core.clock.nowMs();
  const created = ctx.core.addToken(
    ctx.project.id,
    {
      token: ctx.core.newTokenString(ctx.project.id),
      description,
      ...(honoursAll && {
        bucketPermissions: parseBucketPermissions(ctx),
        canManageBuckets: flag(ctx.body.canManageBuckets),
        canReadAllFileUploads: flag(ctx.body.canReadAllFileUploads),
        canPurgeTrash: flag(ctx.body.canPurgeTrash),
      }),
      expires:
        expiresInSeconds === undefined
          ? null
          : new Date(nowMs + expiresInSeconds * 1000).toISOString(),
    },
    { id: Number(creator.id), description: creator.description },
  );
  return json(201, view(ctx, created, true));
}

function refreshToken(ctx: RouteContext): ApiResponse {
  const target = targetToken(ctx);
  // The old string answers 401 from now on: it stays as a revoked copy (and a known secret).
  ctx.core.state.tokens.set(target.token, { ...target, revoked: true });
  // Same id, new secret: `<projectId>-<tokenId>-<40 hex>`.
  target.token = `${ctx.project.id}-${target.id}-${randomBytes(20).toString('hex')}`;
  target.refreshedMs = ctx.core.clock.nowMs();
  ctx.core.state.tokens.set(target.token, target);
  ctx.core.state.addTokenEvent(
    target,
    'storage.tokenRefreshed',
    `Token ${target.id} refreshed`,
    target.refreshedMs,
    ctx.runId,
  );
  return json(200, view(ctx, target, true));
}

function deleteToken(ctx: RouteContext): ApiResponse {
  const target = targetToken(ctx);
  if (target.isMasterToken) {
    throw validationError(
      'storage.tokens.cannotDeleteMasterToken',
      'Master tokens cannot be deleted.',
    );
  }
  target.revoked = true;
  ctx.core.state.addTokenEvent(
    target,
    'storage.tokenDeleted',
    `Token ${target.id} deleted`,
    ctx.core.clock.nowMs(),
    ctx.runId,
  );
  return { status: 204, body: undefined };
}

function tokenEvents(ctx: RouteContext): ApiResponse {
  const target = targetToken(ctx);
  const limit = boundedInt(ctx.query.get('limit'), DEFAULT_EVENT_LIMIT);
  const offset = boundedInt(ctx.query.get('offset'), 0);
  const ascending = ctx.query.get('sortOrder') === 'asc';
  const own = ctx.core.state.tokenEvents.filter(
    (e) => e.projectId === ctx.project.id && e.tokenId === target.id,
  );
  const ordered = ascending ? own : [...own].reverse();
  return json(
    200,
    ordered.slice(offset, offset + limit).map((e) => tokenEventView(e, target)),
  );
}

function boundedInt(text: string | null, fallback: number): number {
  const value = Number(text);
  return text !== null && Number.isInteger(value) && value >= 0 ? value : fallback;
}

function flag(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 'true';
}

/** `expiresIn`: whole seconds ≥ 1; absent means never. */
function parseExpiresIn(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const seconds = Number(scalarText(value));
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw validationError(
      'storage.tokens.validation',
      'Minimal expiration must be greater or equal to 1 second(s)',
    );
  }
  return seconds;
}

/** `{bucketId: "read"|"write"}` on existing buckets; anything else 400 `invalidPermissions`. */
function parseBucketPermissions(ctx: RouteContext): Record<string, 'read' | 'write'> {
  const raw = ctx.body.bucketPermissions;
  if (raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0)) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalidPermissions('bucketPermissions must be an object of bucket id → read or write.');
  }
  const permissions: Record<string, 'read' | 'write'> = {};
  for (const [bucketId, level] of Object.entries(raw as Record<string, unknown>)) {
    if (level !== 'read' && level !== 'write') {
      throw invalidPermissions(`Invalid permission "${scalarText(level)}" for "${bucketId}".`);
    }
    if (!ctx.project.buckets.has(bucketId)) {
      throw invalidPermissions(`Bucket "${bucketId}" not found.`);
    }
    permissions[bucketId] = level;
  }
  return permissions;
}

function invalidPermissions(message: string): ApiError {
  return validationError('storage.tokens.invalidPermissions', message);
}
