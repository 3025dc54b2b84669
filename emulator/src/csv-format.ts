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
