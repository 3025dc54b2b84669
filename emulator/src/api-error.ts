/**
 * Errors the emulator's Storage API routes answer with. Route code throws them; the server turns an
 * {@link ApiError} into the JSON error body of docs/storage-api-notes.md, Error answers and codes, and the job runner
 * turns a {@link JobError} into a job that ends in `status: "error"`.
 */

/** An HTTP error answer: `{error, code, status: "error", exceptionId}` with this status. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A failure inside a job's background work: the job ends in `error{code,message}` (+ results). */
export class JobError extends Error {
  override name = 'JobError';
  constructor(
    readonly code: string,
    message: string,
    readonly results: Readonly<Record<string, unknown>> | null = null,
  ) {
    super(message);
  }
}

export const accessDenied = (): ApiError =>
  new ApiError(403, 'accessDenied', "You don't have access to the resource.");

export const bucketNotFound = (bucketId: string, projectId: number): ApiError =>
  new ApiError(
    404,
    'storage.buckets.notFound',
    `The bucket "${bucketId}" was not found in the project "${projectId}"`,
  );

export const tableNotFound = (tableName: string, bucketId: string, projectId: number): ApiError =>
  new ApiError(
    404,
    'storage.tables.notFound',
    `The table "${tableName}" was not found in the bucket "${bucketId}" in the project "${projectId}"`,
  );

export const fileNotFound = (fileId: string): ApiError =>
  new ApiError(404, 'storage.files.notFound', `File ${fileId} not found`);

export const jobNotFound = (jobId: string): ApiError =>
  new ApiError(404, 'storage.jobs.notFound', `Job ${jobId} not found`);

export const validationError = (code: string, message: string): ApiError =>
  new ApiError(400, code, message);

/** The `csvImport.columnsNotMatch` message of docs/storage-api-notes.md, Error answers and codes, verbatim shape. */
export function missingColumnsMessage(
  missing: readonly string[],
  expected: readonly string[],
): string {
  return (
    `Some columns are missing in the csv file. Missing columns: ${missing.join(',')}. ` +
    `Expected columns: ${expected.join(',')}. ` +
    'Please check if the expected delimiter "," is used in the csv file.'
  );
}
