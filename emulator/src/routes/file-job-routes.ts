/**
 * Files (detail with federation credentials, prepare, GCS refresh) and jobs (detail that advances
 * one step per poll, list newest first) (docs/storage-api-notes.md, Waiting for a job; Reading an exported file; Writing a file into the destination).
 */
import { accessDenied, fileNotFound, jobNotFound, validationError } from '../api-error.js';
import type { EmulatorCore } from '../core.js';
import { datePath, fileLocation } from '../file-locations.js';
import type { FileState, ProjectState, TokenState } from '../model.js';
import { parseBooleanParam, parsePaging, requireString } from '../params.js';
import { json, route, type Route, type RouteContext } from '../router.js';
import { fileView, jobView } from '../views.js';

export const fileJobRoutes: readonly Route[] = [
  route('GET', '/v2/storage/files/{fileId}', getFile),
  route('POST', '/v2/storage/files/prepare', prepareFile),
  route('PUT', '/v2/storage/files/{fileId}/refresh', refreshFile),
  route('GET', '/v2/storage/jobs', listJobs),
  route('GET', '/v2/storage/jobs/{jobId}', getJob),
];

/**
 * Read credentials: AWS ~12 h, Azure ~12 h, GCS ~1 h; the signed `url` about an hour on every
 * provider (docs/storage-api-notes.md, Reading an exported file).
 */
const READ_TTL_SECONDS = { aws: 12 * 3600, azure: 12 * 3600, gcp: 3600 } as const;
const URL_TTL_SECONDS = 3600;
/** Upload credentials (docs/storage-api-notes.md, Writing a file into the destination). */
const UPLOAD_TTL_SECONDS = { aws: 12 * 3600, azure: 12 * 3600, gcp: 3600 } as const;

export function canReadFile(token: TokenState, file: FileState): boolean {
  return (
    token.isMasterToken ||
    token.canReadAllFileUploads ||
    file.creatorTokenId === token.id ||
    file.readerTokenIds.has(token.id)
  );
}

function visibleFile(ctx: RouteContext): FileState {
  const id = Number(ctx.params.fileId);
  const file = Number.isSafeInteger(id) ? ctx.core.state.files.get(id) : undefined;
  if (!file || file.projectId !== ctx.project.id) throw fileNotFound(ctx.params.fileId ?? '');
  if (!canReadFile(ctx.token, file)) throw accessDenied();
  return file;
}

function getFile(ctx: RouteContext) {
  const file = visibleFile(ctx);
  const withCredentials = parseBooleanParam(ctx.query.get('federationToken') ?? undefined, false);
  const provider = ctx.project.provider;
  const loc = { bucket: file.bucket, key: file.key };
  const urlKey = file.isSliced ? `${file.key}manifest` : file.key;
  const fields = ctx.core.objectStore.readFields(
    provider,
    loc,
    urlKey,
    READ_TTL_SECONDS[provider],
    withCredentials,
    URL_TTL_SECONDS,
  );
  return json(200, { ...fileView(file, ctx.project), ...fields });
}

function preparedFile(
  core: EmulatorCore,
  project: ProjectState,
  token: TokenState,
  body: Readonly<Record<string, unknown>>,
  runId: string | null,
): FileState {
  const name = requireString(body, 'name');
  if (!/^[^/\\]+$/.test(name))
    throw validationError('storage.files.validation', 'Invalid file name.');
  const id = core.state.nextFileId();
  const nowMs = core.clock.nowMs();
  const loc = fileLocation(project.provider, project.id, `files/${datePath(nowMs)}/${id}.${name}`);
  const tags = Array.isArray(body.tags) ? body.tags.map(String) : [];
  const sizeBytes = Number(body.sizeBytes ?? 0);
  return {
    id,
    projectId: project.id,
    name,
    bucket: loc.bucket,
    key: loc.key,
    isSliced: parseBooleanParam(body.isSliced, false),
    isEncrypted: project.provider !== 'aws' || parseBooleanParam(body.isEncrypted, true),
    sizeBytes: Number.isFinite(sizeBytes) && sizeBytes >= 0 ? sizeBytes : 0,
    createdMs: nowMs,
    creatorTokenId: token.id,
    creatorDescription: token.description,
    readerTokenIds: new Set(),
    tags,
    runId,
  };
}

/** `POST files/prepare` → 201 with the provider's upload params; `federationToken` required. */
function prepareFile(ctx: RouteContext) {
  if (!parseBooleanParam(ctx.body.federationToken, false)) {
    throw validationError(
      'storage.files.validation',
      'The emulator only supports uploads with "federationToken": true.',
    );
  }
  const file = preparedFile(ctx.core, ctx.project, ctx.token, ctx.body, ctx.runId);
  ctx.core.state.files.set(file.id, file);
  return json(201, uploadAnswer(ctx, file));
}

function uploadAnswer(ctx: RouteContext, file: FileState): Record<string, unknown> {
  const provider = ctx.project.provider;
  const fields = ctx.core.objectStore.uploadFields(
    provider,
    { bucket: file.bucket, key: file.key },
    UPLOAD_TTL_SECONDS[provider],
    // A non-sliced file's credentials cover its exact key; a sliced one's, the slices under it.
    { exactKey: !file.isSliced, encrypted: file.isEncrypted },
  );
  const urlKey = file.isSliced ? `${file.key}manifest` : file.key;
  const read = ctx.core.objectStore.readFields(
    provider,
    { bucket: file.bucket, key: file.key },
    urlKey,
    READ_TTL_SECONDS[provider],
    false,
    URL_TTL_SECONDS,
  );
  return { ...fileView(file, ctx.project), ...read, ...fields };
}

/** `PUT files/{id}/refresh`: GCS only, new `gcsUploadParams`. */
function refreshFile(ctx: RouteContext) {
  const file = visibleFile(ctx);
  if (ctx.project.provider !== 'gcp') {
    throw validationError(
      'storage.files.refreshNotSupported',
      'Refreshing upload credentials is supported for GCP file storage only.',
    );
  }
  return json(200, uploadAnswer(ctx, file));
}

function getJob(ctx: RouteContext) {
  const id = Number(ctx.params.jobId);
  const job = Number.isSafeInteger(id) ? ctx.core.state.jobs.get(id) : undefined;
  if (!job || job.projectId !== ctx.project.id) throw jobNotFound(ctx.params.jobId ?? '');
  ctx.core.jobs.advance(job);
  return json(200, jobView(job, ctx.core.baseUrl));
}

/**
 * `GET jobs?limit&offset&storage_job_status&excluded_storage_job_status`: the project's jobs, newest
 * first; each status filter takes one status or a comma-separated list.
 */
function listJobs(ctx: RouteContext) {
  const { limit, offset } = parsePaging(ctx.query, 100);
  const statusList = (name: string) =>
    (ctx.query.get(name) ?? '').split(',').filter((status) => status !== '');
  const only = statusList('storage_job_status');
  const excluded = statusList('excluded_storage_job_status');
  const jobs = [...ctx.core.state.jobs.values()]
    .filter((job) => job.projectId === ctx.project.id)
    .filter((job) => only.length === 0 || only.includes(job.status))
    .filter((job) => !excluded.includes(job.status))
    .sort((a, b) => b.id - a.id)
    .slice(offset, offset + limit);
  return json(
    200,
    jobs.map((job) => jobView(job, ctx.core.baseUrl)),
  );
}
