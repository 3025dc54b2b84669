/**
 * CSV helpers of the Keboola dialect (RFC 4180, `,`, `"` doubled): export lines with every value
 * quoted, and reading a file's header row without loading the file.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';

/** One exported row: every value double-quoted, embedded quotes doubled, `\n` terminated. */
export function formatCsvLine(values: readonly (string | null)[]): string {
  return `${values.map((v) => `"${(v ?? '').replaceAll('"', '""')}"`).join(',')}\n`;
}

/** Column names made safe the way Storage does for headers: anything but [A-Za-z0-9_] → `_`. */
export function sanitizeColumnName(name: string): string {
  return name.trim().replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * The first record of a CSV file (gunzipped when the path ends in `.gz`), or `[]` for an empty
 * file. Reads only as much of the file as the first record needs.
 */
export async function readCsvHeader(path: string): Promise<string[]> {
  const source = createReadStream(path);
  const parser = parse({ to: 1, relax_column_count: true, bom: true });
  const input = path.endsWith('.gz') ? source.pipe(createGunzip()) : source;
  input.pipe(parser);
  try {
    for await (const record of parser) return (record as string[]).map(String);
    return [];
  } finally {
    source.destroy();
  }
}

/** A record terminator DuckDB's `read_csv` can be told (`new_line`). */
export type LineEnding = '\n' | '\r\n' | '\r';

/** How far {@link lineEndingOf} reads for the end of the first record: DuckDB's line limit. */
const LINE_ENDING_SCAN_BYTES = 64 * 1024 * 1024;

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/**
 * How the first record of a CSV file (gunzipped when the path ends in `.gz`) ends, outside
 * quotes; undefined for a file of one record, or one whose first record is longer than DuckDB
 * reads. DuckDB otherwise guesses it from the first line as bytes, and a quoted `\r` in a file's
 * first record made it guess `\r` and refuse the file (found by an audit).
 */
export async function lineEndingOf(path: string): Promise<LineEnding | undefined> {
  const source = createReadStream(path);
  const input = path.endsWith('.gz') ? source.pipe(createGunzip()) : source;
  let quoted = false;
  let afterCr = false;
  let scanned = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      for (const byte of chunk) {
        if (afterCr) return byte === LF ? '\r\n' : '\r';
        if (byte === QUOTE) quoted = !quoted;
        else if (!quoted && byte === LF) return '\n';
        else if (!quoted && byte === CR) afterCr = true;
      }
      scanned += chunk.length;
      if (scanned > LINE_ENDING_SCAN_BYTES) return undefined;
    }
    return afterCr ? '\r' : undefined;
  } finally {
    source.destroy();
  }
}

/** The one line ending of every file that has one, or undefined when they differ or none has. */
export async function sharedLineEnding(paths: readonly string[]): Promise<LineEnding | undefined> {
  const endings = new Set<LineEnding>();
  for (const path of paths) {
    const ending = await lineEndingOf(path);
    if (ending !== undefined) endings.add(ending);
  }
  return endings.size === 1 ? [...endings][0] : undefined;
}
