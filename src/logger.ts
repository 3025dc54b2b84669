import { Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { SecretMasker } from './secrets.js';
import { escapeForDisplay, escapeJsonLine } from './text/escape.js';

export type { Logger };

export interface LoggerOptions {
  readonly level: LevelWithSilent;
  readonly masker: SecretMasker;
  /** Where info and debug lines go (stdout in a run, nowhere in a sync action). */
  readonly out: NodeJS.WritableStream;
  /** Where warnings and errors go, in addition to `out` (stderr). */
  readonly err: NodeJS.WritableStream;
  /** Human-readable lines instead of JSON (stdout is a terminal). */
  readonly pretty: boolean;
}

const WARN_LEVEL = 40;

/**
 * A pino logger whose every line passes through the secret masker before it is written.
 * JSON lines go to `out`; lines at warn and above are also written to `err` (as the message only),
 * because the Keboola runner shows stderr to the user as the job's error text.
 */
export function createLogger(options: LoggerOptions): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writeLine(options, chunk.toString('utf8'));
      callback();
    },
  });
  return pino(
    {
      level: options.level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    sink,
  );
}

function writeLine(options: LoggerOptions, raw: string): void {
  // Names from config or answers may hold control or bidi characters: never raw in a log line.
  const line = `${escapeJsonLine(options.masker.mask(raw).replace(/\n$/, ''))}\n`;
  let record: { level?: string; msg?: string; time?: string; [key: string]: unknown };
  try {
    record = JSON.parse(line) as typeof record;
  } catch {
    options.out.write(line);
    return;
  }
  const levelNumber = pino.levels.values[record.level ?? 'info'] ?? 30;
  options.out.write(options.pretty ? formatPretty(record) : line);
  if (levelNumber >= WARN_LEVEL && options.err !== options.out) {
    options.err.write(`${escapeForDisplay(record.msg ?? '')}\n`);
  }
}

function formatPretty(record: { level?: string; msg?: string; time?: string }): string {
  const { level, msg, time, ...rest } = record;
  const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  const shown = (msg ?? '')
    .split('\n')
    .map((part) => escapeForDisplay(part))
    .join('\n');
  return `${time?.slice(11, 19) ?? ''} ${(level ?? 'info').toUpperCase().padEnd(5)} ${shown}${escapeForDisplay(extra)}\n`;
}
