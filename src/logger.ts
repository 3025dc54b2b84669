import { Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { GelfOutput, type GelfAddress } from './log/gelf-output.js';
import type { SecretMasker } from './secrets.js';
import { escapeForDisplay, escapeJsonLine } from './text/escape.js';

export type { Logger };

/**
 * Where log records go (docs/logging.md):
 * - `gelf`: GELF over TCP to the Keboola runner's log server (`KBC_LOGGER_ADDR`/`_PORT` set);
 * - `text`: plain lines (`message`, `Warning: message`, `Error: message`) for the runner's standard
 *   logging and for people at a terminal;
 * - `json`: pino JSON lines, one record per line, for log collectors.
 */
export type LogTarget =
  | { readonly kind: 'gelf'; readonly address: GelfAddress }
  | { readonly kind: 'text' }
  | { readonly kind: 'json' };

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Picks the log target (pure). GELF whenever the runner announces its log server; else the
 * `--log-format` flag; else text under the runner (`KBC_RUNID` or `KBC_COMPONENTID`) or on a
 * terminal, JSON when piped.
 */
export function chooseLogTarget(input: {
  readonly env: NodeJS.ProcessEnv;
  readonly stdoutIsTty: boolean;
  readonly requested?: LogFormat | undefined;
}): LogTarget {
  const host = input.env.KBC_LOGGER_ADDR;
  const port = Number(input.env.KBC_LOGGER_PORT);
  if (host && Number.isInteger(port) && port > 0 && port < 65536) {
    return { kind: 'gelf', address: { host, port } };
  }
  if (input.requested) return { kind: input.requested };
  // The runner always sets KBC_COMPONENTID; KBC_RUNID may be empty there in odd cases.
  const underRunner = Boolean(input.env.KBC_RUNID || input.env.KBC_COMPONENTID);
  return input.stdoutIsTty || underRunner ? { kind: 'text' } : { kind: 'json' };
}

export interface LoggerOptions {
  readonly level: LevelWithSilent;
  readonly masker: SecretMasker;
  readonly target: LogTarget;
  /**
   * Where text and JSON lines go (stdout, or the progress bar's output on a terminal); also the
   * fallback for a GELF record the log server did not take, so no line is lost.
   */
  readonly out: NodeJS.WritableStream;
}

export interface LogSink {
  readonly logger: Logger;
  /** Resolves when every record is written (GELF: sent); call before the process ends. */
  flush(this: void): Promise<void>;
}

/**
 * A pino logger whose every record passes through the secret masker as text, before it is parsed
 * and written in the target's format. Nothing is written to stderr: under the runner's standard
 * logging any stderr output becomes an error event, so only the failing run's final sentence goes
 * there (main.ts).
 */
export function createLogger(options: LoggerOptions): LogSink {
  const gelf =
    options.target.kind === 'gelf'
      ? new GelfOutput(options.target.address, (line) => options.out.write(line))
      : undefined;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writeRecord(options, gelf, chunk.toString('utf8'));
      callback();
    },
  });
  const logger = pino(
    {
      level: options.level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    sink,
  );
  return { logger, flush: () => gelf?.flush() ?? Promise.resolve() };
}

export interface LogRecord {
  readonly level?: string;
  readonly msg?: string;
  readonly time?: string;
  readonly [key: string]: unknown;
}

function writeRecord(options: LoggerOptions, gelf: GelfOutput | undefined, raw: string): void {
  // Names from config or answers may hold control or bidi characters: never raw in a log line.
  const line = `${escapeJsonLine(options.masker.mask(raw).replace(/\n$/, ''))}\n`;
  if (options.target.kind === 'json') {
    options.out.write(line);
    return;
  }
  let record: LogRecord;
  try {
    record = JSON.parse(line) as LogRecord;
  } catch {
    options.out.write(line);
    return;
  }
  if (gelf) gelf.send(record, formatText(record));
  else options.out.write(formatText(record));
}

/**
 * One human line per record: the message, prefixed `Warning: ` or `Error: ` at those levels. The
 * structured fields stay out (they are in the JSON and GELF forms), so no JSON follows the text;
 * only a record's `durationMs` (a request's debug line) ends the line as ` in 12 ms`, since the
 * text form promises every request's duration too (docs/limits.md, Debug logging). Control and
 * bidi characters are shown escaped; line breaks of a multi-line message stay.
 */
export function formatText(record: LogRecord): string {
  const level = pino.levels.values[record.level ?? 'info'] ?? 30;
  const prefix = level >= 50 ? 'Error: ' : level >= 40 ? 'Warning: ' : '';
  const shown = (record.msg ?? '')
    .split('\n')
    .map((part) => escapeForDisplay(part))
    .join('\n');
  const { durationMs } = record;
  const duration = typeof durationMs === 'number' ? ` in ${durationMs} ms` : '';
  return `${prefix}${shown}${duration}\n`;
}
