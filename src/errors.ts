/**
 * The two error families decide the exit code (design §8):
 * - {@link UserError} and its subclasses: something the user can fix (config, token, permission,
 *   missing table, API 4xx the user caused). Exit 1 with one sentence on stderr.
 * - everything else: a bug or an outage that survived the retries. Exit 2 with class and cause.
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
 * request past its deadline, a malformed answer, a gzip bomb). Exit 2 with this one sentence and
 * no stack trace: the message says all there is to say.
 */
export class ServiceError extends Error {
  override name = 'ServiceError';
}

/**
 * A Storage API answered with a non-2xx status. Built at the HTTP boundary from the response body
 * (`error`, `code`, `exceptionId`); carries no request headers and no axios config.
 */
export class StorageApiError extends Error {
  override name = 'StorageApiError';
  constructor(
    message: string,
    readonly details: {
      readonly method: string;
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

/** A Storage job ended in `error`. */
export class JobFailedError extends Error {
  override name = 'JobFailedError';
  constructor(
    message: string,
    readonly jobId: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** A wait (job polling, a download) passed its deadline. Names what was waited for. */
export class DeadlineError extends ServiceError {
  override name = 'DeadlineError';
}

/** The run was interrupted by a signal; nothing new was finished. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}

/**
 * Whether the user can fix it (exit 1): user errors, API 4xx answers the user caused (permission,
 * validation, not found; not 408/429, which are transient), and Storage jobs that failed on the
 * user's data or schema (by error code). Everything else is exit 2.
 */
export function isUserFixable(error: unknown): boolean {
  if (isUserError(error)) return true;
  if (error instanceof JobFailedError) return isDataOrSchemaJobError(error.code);
  if (error instanceof StorageApiError) {
    const { status } = error.details;
    return status >= 400 && status < 500 && status !== 408 && status !== 429;
  }
  return false;
}

/** Job error codes about the user's data or schema (`csvImport.columnsNotMatch`, validation). */
function isDataOrSchemaJobError(code: string | undefined): boolean {
  if (!code) return false;
  return code.startsWith('csvImport.') || /validation|notFound|invalid|primaryKey/i.test(code);
}

/** Exit code for an error that reached the top of the process: 1 if the user can fix it, else 2. */
export function exitCodeFor(error: unknown): 1 | 2 {
  return isUserFixable(error) ? 1 : 2;
}

/** The error's message, whatever was thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
