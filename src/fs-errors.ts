import { UserError } from './errors.js';

/**
 * Filesystem faults as user errors (docs/configuration.md, "The data folder"): the data folder,
 * the state file and the output tree share one wording, one sentence naming the path.
 */

/** A fault of the machine the job runs on: a folder missing, read-only, of the wrong kind, full. */
export class EnvironmentError extends UserError {
  override name = 'EnvironmentError';
}

const FOLDER_FOR_FILE = 'it is a folder where a file is expected';

/**
 * One sentence for a filesystem error, or undefined when the error is not about the
 * environment (then it is a bug and keeps its stack). `context` starts the sentence.
 */
export function describeFsError(error: unknown, context: string): EnvironmentError | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const reasons: Record<string, string> = {
    ENOENT: 'it does not exist',
    ENOTDIR: 'a part of the path is not a folder',
    EACCES: 'permission denied (check the owner and mode, or run with --user)',
    EPERM: 'the operation is not permitted (check the owner and mode)',
    EROFS: 'the filesystem is read-only',
    ENOSPC: 'no space is left on the device',
    EDQUOT: 'the disk quota is exhausted',
    EISDIR: FOLDER_FOR_FILE,
    // fs.rm's own code for the same fault.
    ERR_FS_EISDIR: FOLDER_FOR_FILE,
    EEXIST: 'something of another kind is already there',
    ENAMETOOLONG: 'the name is too long for the filesystem',
    EXDEV: 'it is on another filesystem than the data folder',
    ELOOP: 'it is a loop of symlinks',
  };
  const reason = code === undefined ? undefined : reasons[code];
  if (reason === undefined) return undefined;
  return new EnvironmentError(`${context}: ${reason} (${code}).`, { cause: error });
}

/** The `code` of a Node.js system error (`ENOENT`, `EPERM`, …), or undefined for anything else. */
export function errorCode(error: unknown): string | undefined {
  return error && typeof error === 'object' && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}
