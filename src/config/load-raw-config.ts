/**
 * Finding the data folder and reading `<dataDir>/config.json` (README.md, Configuration). `loadRawConfig` is the
 * adapter (file I/O); `resolveDataDir` and `jsonErrorPosition` are pure.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';

export interface DataDirInputs {
  /** `--data` from the command line, when given. */
  readonly cliData?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether a path exists (injected so the function stays pure). */
  readonly exists: (path: string) => boolean;
}

/**
 * The data folder: `--data`, else `KBC_DATADIR`, else `/data` when it exists, else `./data`.
 * Trailing slashes are removed (`/data/` → `/data`; `/` stays `/`).
 * @throws UserError naming the flag or variable when the path holds a control character
 */
export function resolveDataDir({ cliData, env, exists }: DataDirInputs): string {
  const fromCli = nonEmpty(cliData);
  const chosen =
    fromCli ?? nonEmpty(env['KBC_DATADIR']) ?? (exists('/data/') ? '/data/' : './data');
  // The folder is named in messages and logs: a line break in it would forge a line of its own.
  if (CONTROL_CHARACTER.test(chosen)) {
    throw new UserError(
      `The data folder given by ${fromCli === undefined ? 'KBC_DATADIR' : '--data'} holds a line break or another control character: give the folder's path without it.`,
    );
  }
  return withoutTrailingSlash(chosen);
}

// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function withoutTrailingSlash(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/**
 * Refuses a config.json larger than `maxBytes` before reading it, so memory stays bounded whatever
 * the file holds. A missing file is left to {@link loadRawConfig} to report.
 * @throws UserError naming the file, its size and the cap
 */
export async function checkConfigSize(dataDir: string, maxBytes: number): Promise<void> {
  const file = join(dataDir, 'config.json');
  const info = await stat(file).catch(() => undefined);
  if (info === undefined) return;
  // A device (a link to /dev/zero) or a pipe reports no size, and reading it may never end.
  if (!info.isFile()) {
    throw new UserError(
      `${file} is not a regular file (a folder, device or pipe): put the configuration there as a file.`,
    );
  }
  const sizeBytes = info.size;
  if (sizeBytes <= maxBytes) return;
  throw new UserError(
    `${file} is ${sizeBytes} bytes, more than the ${Math.round(maxBytes / 1024 / 1024)} MiB a configuration may have (KBC_TABLE_SYNC_MAX_CONFIG_MB).`,
  );
}

/** Reads a file as UTF-8 text (injectable for tests). */
export type ReadText = (file: string) => Promise<string>;

const readUtf8: ReadText = (file) => readFile(file, 'utf8');

/** There is no `<dataDir>/config.json` (or no such folder): the message says which and how to mount it. */
export class ConfigMissingError extends UserError {
  override name = 'ConfigMissingError';
}

/**
 * Reads and JSON-parses `<dataDir>/config.json`. Throws {@link UserError} when the file is missing,
 * unreadable or not JSON; the message names the file and the error position, never its content
 * (the file holds decrypted secrets). Other read errors propagate unchanged.
 */
export async function loadRawConfig(
  dataDir: string,
  readText: ReadText = readUtf8,
): Promise<unknown> {
  return (await loadConfigFile(dataDir, readText)).document;
}

/** config.json as read: its text, for a command that writes it back edited, and its parse. */
export interface ConfigFile {
  readonly text: string;
  readonly document: unknown;
}

/** {@link loadRawConfig}, keeping the text as well. */
export async function loadConfigFile(
  dataDir: string,
  readText: ReadText = readUtf8,
): Promise<ConfigFile> {
  const file = join(dataDir, 'config.json');
  const text = await readConfigText(file, dataDir, readText);
  return { text, document: parseConfigText(text, file) };
}

/**
 * JSON-parses config text; a syntax error becomes a {@link UserError} naming `file`, the kind of
 * error and its line and column. A leading byte order mark is ignored.
 */
export function parseConfigText(text: string, file: string): unknown {
  const json = text.replace(/^\uFEFF/, '');
  try {
    return JSON.parse(json) as unknown;
  } catch (error) {
    throw new UserError(
      `${file} is not valid JSON (${describeJsonError(json, error)}): fix the syntax, e.g. a missing comma, quote or bracket`,
    );
  }
}

async function readConfigText(file: string, dataDir: string, readText: ReadText): Promise<string> {
  try {
    return await readText(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const how =
        'mount the data folder (docker run -v "$PWD/data:/data") or pass --data DIR, or set KBC_DATADIR';
      const folder = await stat(dataDir).catch(() => undefined);
      if (folder === undefined) {
        throw new ConfigMissingError(`The data folder ${dataDir} does not exist: ${how}`);
      }
      if (!folder.isDirectory()) {
        throw new ConfigMissingError(`The data folder ${dataDir} is not a folder: ${how}`);
      }
      throw new ConfigMissingError(`No config.json in ${dataDir}: ${how}`);
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EISDIR' || code === 'ELOOP') {
      throw new UserError(`Cannot read ${file} (${code}): make it a readable file`);
    }
    throw error;
  }
}

/** `Unexpected token '}' at line 3, column 5`, without the snippet of content V8 puts in messages. */
function describeJsonError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  // V8 appends a snippet of the text (`, "..."` or `, ..."..."`): cut it, and give up on any quote.
  const cut = message.split(/, (?:\.\.\.)?"|\s+in JSON\b| is not valid JSON/)[0]?.trim() ?? '';
  const kind = cut !== '' && !cut.includes('"') && cut.length <= 80 ? cut : 'syntax error';
  const offset = jsonErrorPosition(text);
  if (offset === undefined) return kind;
  const { line, column } = lineAndColumn(text, offset);
  return `${kind} at line ${line}, column ${column}`;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return { line, column };
}

// JSON strings: no raw control characters (U+0000 to U+001F), only the escapes JSON defines.
// eslint-disable-next-line no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERAL = /true|false|null/y;
const SPACE = /[ \t\n\r]*/y;

/**
 * The offset of the first JSON syntax error in `text`, or undefined when it is valid JSON.
 * Iterative (no recursion), so any nesting depth is fine. Pure.
 */
export function jsonErrorPosition(text: string): number | undefined {
  const stack: ('{' | '[')[] = [];
  let offset = 0;
  let expect: 'value' | 'firstValue' | 'key' | 'firstKey' | 'colon' | 'after' = 'value';
  const skipSpace = (): void => {
    SPACE.lastIndex = offset;
    SPACE.exec(text);
    offset = SPACE.lastIndex;
  };
  const take = (pattern: RegExp): boolean => {
    pattern.lastIndex = offset;
    if (!pattern.test(text)) return false;
    offset = pattern.lastIndex;
    return true;
  };
  for (;;) {
    skipSpace();
    const char = text[offset];
    if (expect === 'after') {
      const top = stack.at(-1);
      if (top === undefined) return offset === text.length ? undefined : offset;
      if (char === ',') [offset, expect] = [offset + 1, top === '{' ? 'key' : 'value'];
      else if ((char === '}' && top === '{') || (char === ']' && top === '[')) {
        [offset, expect] = [offset + 1, 'after'];
        stack.pop();
      } else return offset;
    } else if (expect === 'key' || expect === 'firstKey') {
      if (char === '}' && expect === 'firstKey') {
        stack.pop();
        [offset, expect] = [offset + 1, 'after'];
      } else if (take(STRING)) expect = 'colon';
      else return offset;
    } else if (expect === 'colon') {
      if (char !== ':') return offset;
      [offset, expect] = [offset + 1, 'value'];
    } else if (char === ']' && expect === 'firstValue') {
      [offset, expect] = [offset + 1, 'after'];
      stack.pop();
    } else if (char === '{' || char === '[') {
      stack.push(char);
      [offset, expect] = [offset + 1, char === '{' ? 'firstKey' : 'firstValue'];
    } else if (take(STRING) || take(NUMBER) || take(LITERAL)) {
      expect = 'after';
    } else {
      return offset;
    }
  }
}
