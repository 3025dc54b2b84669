import { AbortError } from 'p-retry';
import { UnknownJobStartError, messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { failureFactsOf, markProvenNotStarted, type StorageHttp } from './http.js';
import { parseJob, parseJobList, timestampMs } from './parse.js';
import { classifyFailure } from '../retry/retry-policy.js';
import type { ExportParams, StorageJob } from './types.js';

/** How far the server clock may lag ours when matching a job created by an unknown-outcome POST. */
const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60_000;
/** How many recent jobs the unknown-outcome lookup reads. */
export const JOB_LOOKUP_LIMIT = 100;

/** How to recognise the job a POST may have started. */
interface JobMatch {
  readonly operationName: string;
  readonly tableId: string;
  /**
   * A job that creates a table may carry no table id (docs/storage-api-notes.md, Jobs list); then
   * this says whether its parameters are this POST's: the name it creates, or the file it loads.
   * Without it such a job is never taken.
   */
  readonly withoutTableId?: (
    operationParams: Readonly<Record<string, unknown>> | undefined,
  ) => boolean;
  /**
   * After an unknown outcome and no job found: post again (the default), or give up with
   * {@link UnknownJobStartError} when a second job would repeat the first's work. A server still
   * busy with the first POST (a gateway answered 504 and the backend carried on) may list its job
   * only later, so "not found" does not prove "not started".
   */
  readonly postAgainAfterMiss?: boolean;
  /**
   * Whether the job's `operationParams` say it was started with this POST's parameters. Another
   * POST of the same run may have started a job on the same table (two configuration rows share
   * the runner's run id); a job that fails this check is never taken for this POST's.
   */
  readonly params?: (operationParams: Readonly<Record<string, unknown>> | undefined) => boolean;
}

const JOBS_PATH = '/v2/storage/jobs';

export interface JobStarterDeps {
  readonly http: StorageHttp;
  /** The `X-KBC-RunId` of this client: a started job carries it. */
  readonly runId: string;
  readonly now: () => number;
  readonly logger?: Logger | undefined;
}

/** Starts one job (docs/storage-client.md, Job starts are never duplicated). */
export type JobStarter = (path: string, body: unknown, match: JobMatch) => Promise<StorageJob>;

/** The job starter of one client; it remembers the jobs it started, so a lookup never reuses one. */
export function createJobStarter(deps: JobStarterDeps): JobStarter {
  const { http, runId, now } = deps;
  const startedJobIds = new Set<number>();

  /**
   * POSTs a job start without ever queueing a second job: surely-not-reached failures are
   * retried; after an unknown outcome the job is looked up (run id, operation, table, created at
   * or after the attempt minus clock skew, not one this client already has) and used when found;
   * when not found the POST is retried. When the lookup itself fails, the original error is thrown,
   * or an {@link UnknownJobStartError} for a job that must not be posted again.
   */
  async function startJob(path: string, body: unknown, match: JobMatch): Promise<StorageJob> {
    const description = `POST ${path}`;
    const job = await http.withRetry(
      async () => {
        const attemptStartMs = now();
        try {
          return parseJob(await http.send({ method: 'POST', path, body }), description);
        } catch (error) {
          if (classifyFailure(failureFactsOf(error)) !== 'unknown') throw error;
          const existing = await lookUpStartedJob(path, match, attemptStartMs, error);
          if (existing) return existing;
          if (match.postAgainAfterMiss === false) throw new AbortError(notPostedAgain(path, error));
          markProvenNotStarted(error);
          throw error;
        }
      },
      { kind: 'jobStart', description },
    );
    startedJobIds.add(job.id);
    return job;
  }

  async function lookUpStartedJob(
    path: string,
    match: JobMatch,
    attemptStartMs: number,
    original: unknown,
  ): Promise<StorageJob | undefined> {
    let jobs: StorageJob[];
    try {
      jobs = parseJobList(
        await http.send({
          method: 'GET',
          path: JOBS_PATH,
          params: { limit: JOB_LOOKUP_LIMIT },
        }),
        `GET ${JOBS_PATH}`,
      );
    } catch (lookupError) {
      // The outcome stays unknown: posting again could duplicate the job, so give up. A job that
      // must not start twice says so (UnknownJobStartError), so that its caller keeps what guards
      // it (docs/sync-record.md, Claims); the lookup fails at once when the run is being stopped.
      if (match.postAgainAfterMiss === false) {
        throw new AbortError(notLookedUp(path, original, lookupError));
      }
      throw new AbortError(original instanceof Error ? original : String(original));
    }
    const found = jobs.find((job) => jobMatches(job, match, runId, attemptStartMs, startedJobIds));
    deps.logger?.warn(
      { operationName: match.operationName, tableId: match.tableId, jobId: found?.id },
      found
        ? `Job start had an unknown outcome; found the job it started (${found.id})`
        : match.postAgainAfterMiss === false
          ? 'Job start had an unknown outcome; no job is listed yet, not posting again'
          : 'Job start had an unknown outcome; no job was started, posting again',
    );
    return found;
  }

  return startJob;
}

function notLookedUp(path: string, cause: unknown, lookupError: unknown): UnknownJobStartError {
  return new UnknownJobStartError(
    `POST ${path} had an unknown outcome (${messageOf(cause)}) and its job could not be looked up (${messageOf(lookupError)}): it may still start, so it was not posted again; a later run settles it.`,
    { cause },
  );
}

function notPostedAgain(path: string, cause: unknown): UnknownJobStartError {
  return new UnknownJobStartError(
    `POST ${path} had an unknown outcome (${messageOf(cause)}) and no job of it is listed yet: it may still start, so it was not posted again; a later run settles it.`,
    { cause },
  );
}

/** Whether `job` is the one a POST with an unknown outcome may have started. */
export function jobMatches(
  job: StorageJob,
  match: JobMatch,
  runId: string,
  attemptStartMs: number,
  excludedIds: ReadonlySet<number> = new Set(),
): boolean {
  if (excludedIds.has(job.id)) return false;
  if (job.runId !== runId || job.operationName !== match.operationName) return false;
  const createdMs = timestampMs(job.createdTime);
  if (Number.isNaN(createdMs) || createdMs < attemptStartMs - CLOCK_SKEW_ALLOWANCE_MS) return false;
  if (match.params && !match.params(job.operationParams)) return false;
  if (job.tableId === match.tableId) return true;
  if (job.tableId !== null || !match.withoutTableId) return false;
  return match.withoutTableId(job.operationParams);
}

/**
 * Whether a job's parameters say it loads the file `fileId` (`operationParams.source.fileId`, a
 * number or a digit string): a file uploaded for one import or one table creation names its job,
 * where the run id, shared by every run of a fixed `KBC_RUNID`, does not.
 */
export function loadsFile(
  fileId: number,
): (operationParams: Readonly<Record<string, unknown>> | undefined) => boolean {
  return (operationParams) => sourceFileIdOf(operationParams) === fileId;
}

/** `operationParams.source.fileId` of an import or table-creation job, if it is readable. */
export function sourceFileIdOf(
  operationParams: Readonly<Record<string, unknown>> | undefined,
): number | undefined {
  const source = operationParams?.['source'];
  if (!source || typeof source !== 'object') return undefined;
  const id = (source as { fileId?: unknown }).fileId;
  if (typeof id === 'number') return id;
  return typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : undefined;
}

/** Whether a job's parameters name the table `name` (a table-definition job carries `name`). */
export function createsTableNamed(
  name: string,
): (operationParams: Readonly<Record<string, unknown>> | undefined) => boolean {
  return (operationParams) => operationParams?.['name'] === name;
}

/**
 * Whether an export job's echoed parameters (`operationParams.export`: columns as a list, the
 * window as sent) are those of `params`. Anything missing or unreadable is no match: posting the
 * export again costs a second export job, taking another one would copy the wrong rows.
 */
export function exportParamsMatch(
  params: ExportParams,
): (operationParams: Readonly<Record<string, unknown>> | undefined) => boolean {
  return (operationParams) => {
    const echoed = operationParams?.['export'];
    if (typeof echoed !== 'object' || echoed === null) return false;
    const exported = echoed as Readonly<Record<string, unknown>>;
    const columns = exported['columns'];
    return (
      Array.isArray(columns) &&
      columns.length === params.columns.length &&
      columns.every((column, index) => column === params.columns[index]) &&
      sameInstant(exported['changedSince'], params.changedSince) &&
      sameInstant(exported['changedUntil'], params.changedUntil)
    );
  };
}

/** An echoed window bound against the one sent (unix seconds, or none). */
function sameInstant(echoed: unknown, sentSeconds: number | undefined): boolean {
  if (sentSeconds === undefined) return echoed === null || echoed === undefined;
  const sent = Math.floor(sentSeconds);
  if (typeof echoed === 'number') return echoed === sent;
  if (typeof echoed !== 'string') return false;
  if (/^\d+$/.test(echoed)) return Number(echoed) === sent;
  const ms = timestampMs(echoed);
  return !Number.isNaN(ms) && Math.floor(ms / 1000) === sent;
}
