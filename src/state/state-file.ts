import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { UserError } from '../errors.js';
import { describeFsError, errorCode } from '../fs-errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { deepestNesting } from '../text/json-depth.js';
import { MAX_UNIX_SECONDS, type TableState } from './cursor.js';

/** The job's part of the component state: per source table id. Other keys are carried through. */
export interface JobState {
  readonly tables: Readonly<Record<string, TableState>>;
  /** The source project the watermarks were taken from (absent in files of older versions). */
  readonly source?: StateSource | undefined;
  readonly [key: string]: unknown;
}

/** Which project's tables a state file's watermarks belong to. */
export interface StateSource {
  /** The stack URL, as configured (no trailing slash). */
  readonly stack: string;
  readonly projectId: number;
}

/** How messages name the state file (relative to the data folder, as the user knows it). */
const STATE_FILE_NAME = 'in/state.json';

/**
 * The state file exists but cannot be used (unreadable, not UTF-8, not JSON, wrong shape or
 * values). The run stops before any data moves: guessing an empty state would copy everything
 * again and double append tables (docs/state-file.md).
 */
export class StateFileError extends UserError {
  override name = 'StateFileError';
}

const unixSecondsSchema = z
  .number({ error: 'must be a number of unix seconds' })
  .int({ error: 'must be a whole number of unix seconds' })
  .nonnegative({ error: 'must not be negative (unix seconds)' });

const watermarkSchema = unixSecondsSchema.refine((value) => value <= MAX_UNIX_SECONDS, {
  error: (issue) =>
    `is ${String(issue.input)}, which looks like milliseconds: watermarks are unix seconds`,
});

/** One table's entry. Known fields are checked; unknown ones are carried through untouched. */
const tableStateSchema = z.looseObject(
  {
    watermark: watermarkSchema.optional(),
    watermarkIso: z.string({ error: 'must be a string' }).optional(),
    lastSuccessAt: z.string({ error: 'must be a string' }).optional(),
    mode: z.string({ error: 'must be a string' }).optional(),
    rows: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .nonnegative({ error: 'must not be negative' })
      .optional(),
    openEnded: z.literal(true, { error: 'must be true or absent' }).optional(),
    // After the others, as nextTableState writes it: a carried entry keeps its key order.
    destination: z.string({ error: 'must be a string' }).optional(),
    sourceCreated: unixSecondsSchema.optional(),
  },
  { error: 'must be an object' },
);

/** `[]` is how PHP encodes an empty object, so an empty array stands for "nothing here". */
const emptyArrayAsObject = (value: unknown) =>
  Array.isArray(value) && value.length === 0 ? {} : value;

const jobStateSchema = z.preprocess(
  emptyArrayAsObject,
  z.looseObject(
    {
      tables: z
        .preprocess(
          emptyArrayAsObject,
          z.record(z.string(), tableStateSchema, { error: 'must be an object keyed by table id' }),
        )
        .optional()
        .transform((tables) => tables ?? {}),
      source: z
        .object(
          {
            stack: z.string({ error: 'must be a string (the stack URL)' }),
            projectId: z
              .number({ error: 'must be a number (the project id)' })
              .int({ error: 'must be a whole number' }),
          },
          { error: 'must be an object {"stack", "projectId"}' },
        )
        .optional(),
    },
    { error: 'must be a JSON object' },
  ),
);

const UTF8_BOM = [0xef, 0xbb, 0xbf];

/**
 * Reads `<dataDir>/in/state.json`. A missing file is an empty state (the first run); so are `{}`
 * and `[]`, which is what the Keboola runner writes when there is no state.
 * @throws StateFileError naming in/state.json and what is wrong with it, for every other problem
 */
export async function readState(
  dataDir: string,
  maxBytes: number = DEFAULT_LIMITS.maxStateBytes,
): Promise<JobState> {
  const file = join(dataDir, 'in', 'state.json');
  let bytes: Uint8Array;
  try {
    await checkStateFile(file, maxBytes);
    bytes = await readFile(file);
  } catch (error) {
    if (error instanceof StateFileError) throw error;
    if (errorCode(error) === 'ENOENT' && !(await isLink(file))) return { tables: {} };
    throw new StateFileError(`${STATE_FILE_NAME} cannot be read: ${describeReadError(error)}.`);
  }
  return parseState(bytes);
}

/**
 * Whether the path itself is a symbolic link. A link whose target is missing (a volume that was not
 * mounted) reads as a missing file, but it is not a first run: taken as an empty state, every table
 * would be copied in full again, doubling append tables.
 */
async function isLink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Refuses, before reading it, a state file that is not a regular file (a device or a pipe may never
 * end) or that is larger than `maxBytes` (parsing takes several times its size in memory).
 * @throws StateFileError naming in/state.json; the stat error when there is none to check
 */
async function checkStateFile(file: string, maxBytes: number): Promise<void> {
  const info = await stat(file);
  if (info.isDirectory()) return; // readFile reports it, as before
  if (!info.isFile()) {
    throw new StateFileError(`${STATE_FILE_NAME} is not a regular file (a device or pipe).`);
  }
  if (info.size > maxBytes) {
    throw new StateFileError(
      `${STATE_FILE_NAME} is ${info.size} bytes, more than the ${Math.round(maxBytes / 1024 / 1024)} MiB a state file may have (KBC_TABLE_SYNC_MAX_STATE_MB).`,
    );
  }
}

/**
 * Decodes and validates the bytes of a state file (pure).
 * @throws StateFileError with one sentence naming in/state.json and what is wrong
 */
export function parseState(bytes: Uint8Array): JobState {
  const problem = (what: string) => new StateFileError(`${STATE_FILE_NAME} ${what}.`);
  if (bytes.length === 0) throw problem('is empty (a torn or truncated write?)');
  if (UTF8_BOM.every((byte, i) => bytes[i] === byte)) {
    throw problem('starts with a UTF-8 byte order mark (BOM); save it as UTF-8 without a BOM');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw problem('is not UTF-8 text (binary or corrupt content)');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw problem(describeJsonError(text, error));
  }
  const deepest = deepestNesting(raw, MAX_STATE_DEPTH);
  if (deepest.depth > MAX_STATE_DEPTH) {
    throw problem(
      `has an invalid value: ${formatPath(deepest.path)} nests arrays and objects more than ${MAX_STATE_DEPTH} levels deep`,
    );
  }
  const parsed = jobStateSchema.safeParse(raw);
  if (!parsed.success) throw problem(describeSchemaIssue(raw, parsed.error));
  return parsed.data as JobState;
}

/**
 * How deep arrays and objects may nest in a state file: the default depth limit of PHP's
 * `json_decode`, far more than a state needs. Unknown keys are carried through into
 * out/state.json, and a value nested thousands of levels deep would stop the run at that write,
 * after the data moved, instead of before (docs/state-file.md, Shape).
 */
const MAX_STATE_DEPTH = 512;

function describeJsonError(text: string, error: unknown): string {
  if (text.trim() === '') return 'is blank (a torn or truncated write?)';
  const message = error instanceof Error ? error.message : String(error);
  const position = /at position (\d+)/.exec(message)?.[1];
  const atEnd = position !== undefined && Number(position) >= text.trimEnd().length;
  if (atEnd || /end of (JSON )?input|Unterminated/i.test(message)) {
    return 'is not valid JSON: it ends early (a torn or truncated file)';
  }
  // V8's messages quote at most a short excerpt of the text; a state file holds no secrets, but
  // keep it short anyway.
  return `is not valid JSON (${message.slice(0, 120)})`;
}

/** The first issue, as `tables["in.c-a.t"].watermark must ...`. */
function describeSchemaIssue(raw: unknown, error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'has an invalid shape';
  if (issue.path.length === 0) return `is not a JSON object (found ${kindOf(raw)})`;
  return `has an invalid value: ${formatPath(issue.path)} ${issue.message}`;
}

/** `tables["in.c-a.t"].watermark`: identifiers with dots, other keys quoted in brackets. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => {
      const name = String(key);
      if (typeof key === 'number') return `[${name}]`;
      if (/^[A-Za-z_$][\w$]*$/.test(name)) return i > 0 ? `.${name}` : name;
      return `[${JSON.stringify(name)}]`;
    })
    .join('');
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function describeReadError(error: unknown): string {
  switch (errorCode(error)) {
    case 'EISDIR':
      return 'it is a directory, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'in/ is not a directory';
    case 'ENOENT':
      return 'it is a symbolic link to a file that does not exist (a volume not mounted?); mount it, or remove the link for a first run';
    case 'ELOOP':
      return 'it is a symbolic link that loops';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Writes `<dataDir>/out/state.json` atomically (temp file, then rename). Temp files a killed run
 * left (`state.json.tmp-*`) are removed first; their names are returned so the run can say so.
 * A failed write removes its own temp file and throws one sentence naming the path.
 */
export async function writeState(dataDir: string, state: JobState): Promise<string[]> {
  const path = join(dataDir, 'out', 'state.json');
  await mkdir(dirname(path), { recursive: true });
  const leftovers = (await readdir(dirname(path))).filter((name) =>
    name.startsWith('state.json.tmp-'),
  );
  const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    // A leftover is whatever a killed run left under that name; a folder there is removed too, as
    // the write would otherwise fail after the tables were written.
    for (const name of leftovers)
      await rm(join(dirname(path), name), { recursive: true, force: true });
    await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw describeFsError(error, `The state file ${path} cannot be written`) ?? error;
  }
  return leftovers;
}

/**
 * Refuses a state file written for another source project: its watermarks would skip, or read
 * again, rows of a project they were never taken from (docs/state-file.md). A file without
 * `source` (an older version's) is taken as it is.
 * @throws StateFileError naming both projects and how to start over
 */
export function checkStateSource(state: JobState, current: StateSource): void {
  const saved = state.source;
  if (saved === undefined) return;
  const sameStack = stackKey(saved.stack) === stackKey(current.stack);
  if (sameStack && saved.projectId === current.projectId) return;
  throw new StateFileError(
    `${STATE_FILE_NAME} holds the watermarks of project ${saved.projectId} on ${saved.stack}, but the source token is of project ${current.projectId} on ${current.stack}: reset the state (in Keboola: the configuration's Reset state; elsewhere remove in/state.json) to copy the new project's tables from the start, or use a token of project ${saved.projectId} (if it is the same project under another address, put that address into "source.stack" of the state instead).`,
  );
}

function stackKey(url: string): string {
  return url.trim().replace(/\/+$/, '').toLowerCase();
}
