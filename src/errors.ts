/**
 * The two error families decide the exit code ({@link exitCodeFor}):
 * - {@link UserError} and its subclasses: something the user can fix (config, token, permission,
 *   missing table, a 4xx that a call site recognised as the user's), and a Storage 403 or 429
 *   wherever it comes. Exit 1 with one sentence. Under Keboola's runner an outage that survived
 *   the retries is exit 1 too.
 * - everything else: a bug, an unexpected 4xx or (outside the runner) an outage that survived the
 *   retries. Exit 2 with class and cause.
 *
 * Messages never contain secrets: callers build them from ids, paths and API `error` texts only,
 * and the logger masks registered secret values as a second line of defence.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** The config failed validation; `problems` are `parameters.path: what is wrong` lines. */
export class ConfigError extends UserError {
  override name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? `Invalid configuration: ${problems[0]}`
        : `Invalid configuration (${countOf(problems)} problems): ${problems.join('; ')}`,
    );
  }
}

/** The number of problems in a list whose last line may be `and N more problems`. */
function countOf(problems: readonly string[]): number {
  const more = /^and (\d+) more problems$/.exec(problems.at(-1) ?? '');
  return more ? problems.length - 1 + Number(more[1]) : problems.length;
}

/**
 * The service misbehaved in a way the job detected and put into words (an answer over its cap, a
 * request past its deadline, a malformed answer, a gzip bomb). Exit 2 with its class, this sentence and
 * its cause, no stack trace: the message says all there is to say.
 */
export class ServiceError extends Error {
  override name = 'ServiceError';

  /**
   * True when the service could not be reached at all once the retries gave up (connections
   * refused, reset or timed out): an outage ({@link isOutage}), not a fault of the job.
   */
  get unreachable(): boolean {
    return false;
  }
}

/**
 * A request to a service other than the Storage API (an object store) failed: `status` is the HTTP
 * status of its answer, undefined when no answer came. A 5xx is an outage ({@link isOutage}), and
 * so is an answer that never came or broke off ({@link ServiceError.unreachable}).
 */
export class ServiceRequestError extends ServiceError {
  override name = 'ServiceRequestError';
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

/**
 * A Storage API answered with a non-2xx status. Built at the HTTP boundary from the response body
 * (`error`, `code`, `exceptionId`); carries no request headers.
 */
export class StorageApiError extends Error {
  override name = 'StorageApiError';
  constructor(
    message: string,
    readonly details: {
      readonly method: string;
      /** Host (and port) of the Storage API asked, for the sentence of an outage. */
      readonly host?: string | undefined;
      /** URL path without the query string (queries may hold signatures). */
      readonly path: string;
      readonly status: number;
      readonly code?: string | undefined;
      readonly exceptionId?: string | undefined;
      readonly retryAfterSeconds?: number | undefined;
      /** True for the 503 `{"status":"maintenance"}` body. */
      readonly maintenance?: boolean | undefined;
    },
  ) {
    super(message);
  }
}

/** The token stopped working in the middle of a run (revoked, refreshed or expired): never retried. */
export class TokenRevokedError extends UserError {
  override name = 'TokenRevokedError';
}

/** A Storage job ended in `error`: the service's failure, told without a stack trace. */
export class JobFailedError extends ServiceError {
  override name = 'JobFailedError';
  constructor(
    message: string,
    readonly jobId: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * A job-starting POST whose outcome is unknown found no job of its own, and was not posted again
 * because a second job would repeat its work (an import would load the rows twice): the first
 * may still appear, so the run leaves it to a later one (docs/sync-record.md).
 */
export class UnknownJobStartError extends ServiceError {
  override name = 'UnknownJobStartError';
}

/** A wait (job polling, a download) passed its deadline. Names what was waited for. */
export class DeadlineError extends ServiceError {
  override name = 'DeadlineError';
}

/**
 * A table was left alone on purpose (another run is importing into the same destination table):
 * a warning, not a failure; its watermark does not move.
 */
export class TableSkippedError extends Error {
  override name = 'TableSkippedError';
}

/** The run was interrupted by a signal; nothing new was finished. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}

/** Where the job runs, for the one rule of {@link exitCodeFor} that depends on it. */
export interface ExitContext {
  /**
   * Started by Keboola's runner (it always sets `KBC_COMPONENTID`): there exit 2 shows the user
   * only "application error, contact support", so a service that is down must be exit 1.
   */
  readonly underRunner: boolean;
}

/**
 * The error policy (docs/architecture.md, Errors): the exit code for an error that ended the run
 * or a table.
 * - 1 for a {@link UserError}: the user can fix it, and its message is the one sentence that says
 *   how. Only the call sites that know what a failure means turn it into one: the token check
 *   (401/403 of `tokens/verify`), the export of a planned table (404), the import check
 *   (`csvImport.*` job errors), the config and state readers.
 * - 1 also for a Storage 403 or 429 wherever it comes ({@link isUsersApiAnswer}).
 * - 1 under Keboola's runner for an outage that survived the retries ({@link isOutage}): the
 *   Common Interface wants a service that is down told to the user, who can only run the job
 *   again later. Outside the runner it is 2, which schedulers read as "retry" (docs/scaling.md).
 * - 2 for everything else, an API 4xx included: a 4xx that no call site recognised comes from a
 *   request the job should not have sent, so the message names the request and the answer's code
 *   instead of blaming the user. Interruptions are 2 too.
 */
export function exitCodeFor(error: unknown, context?: ExitContext): 1 | 2 {
  if (isUserError(error) || isUsersApiAnswer(error)) return 1;
  return context?.underRunner === true && isOutage(error) ? 1 : 2;
}

/**
 * A 5xx that the retries did not outlast: of the Storage API (503 maintenance included) or of an
 * object store ({@link ServiceRequestError}); or a service that stayed unreachable
 * ({@link ServiceError.unreachable}). The service's fault, not a bug of the job.
 */
export function isOutage(error: unknown): error is StorageApiError | ServiceError {
  if (error instanceof ServiceError && error.unreachable) return true;
  const status =
    error instanceof StorageApiError
      ? error.details.status
      : error instanceof ServiceRequestError
        ? error.status
        : undefined;
  return status !== undefined && status >= 500;
}

/**
 * Storage answers that are the user's to act on whichever request met them: 403 (the token lacks
 * a permission, and tokens and bucket permissions are the user's settings) and 429 once the
 * retries gave up (the project's rate limit). Their message names the request and the answer.
 */
function isUsersApiAnswer(error: unknown): boolean {
  if (!(error instanceof StorageApiError)) return false;
  return error.details.status === 403 || error.details.status === 429;
}

/** The error's message, whatever was thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Failed writes whose every attempt is known not to have been applied by the server. */
const notApplied = new WeakSet<object>();

/**
 * Notes that the write that failed with `error` was surely not applied: every attempt was
 * refused (4xx) or never reached the server. A write with an unknown outcome is never noted.
 */
export function noteNotApplied(error: unknown): void {
  if (typeof error === 'object' && error !== null) notApplied.add(error);
}

/** Whether the write that failed with `error` was surely not applied ({@link noteNotApplied}). */
export function wasNotApplied(error: unknown): boolean {
  return typeof error === 'object' && error !== null && notApplied.has(error);
}

/** Which table an error of a platform run failed, for the run's final sentence. */
const failedTables = new WeakMap<object, string>();

/** Notes that `error` failed the table `tableId`; the run's final sentence names it. */
export function noteFailedTable(error: Error, tableId: string): void {
  failedTables.set(error, tableId);
}

/** The table `error` failed, when it was noted. */
export function failedTableOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? failedTables.get(error) : undefined;
}

/**
 * `Class: message`, then up to three causes as `caused by Class: message`, on one line: how an
 * exit-2 failure is told (docs/logging.md). A cause its error's message already says is left out.
 */
export function classAndCause(error: Error): string {
  const parts = [`${error.name}: ${error.message}`];
  let cause = error.cause;
  while (cause instanceof Error && parts.length < 4) {
    if (!error.message.includes(cause.message)) {
      parts.push(`caused by ${cause.name}: ${cause.message}`);
    }
    cause = cause.cause;
  }
  return parts.join('; ');
}
