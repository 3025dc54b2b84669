import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';

export interface SlicedTable {
  readonly manifest: Record<string, unknown> & { columns: string[] };
  readonly slices: string[];
  readonly rows: Record<string, string>[];
}

/** Reads `out/tables/<fileName>` (sliced folder + manifest) back as rows keyed by column. */
export async function readSlicedTable(dataDir: string, fileName: string): Promise<SlicedTable> {
  const folder = join(dataDir, 'out', 'tables', fileName);
  const manifest = JSON.parse(
    await readFile(`${folder}.manifest`, 'utf8'),
  ) as SlicedTable['manifest'];
  const slices = (await readdir(folder)).sort();
  const rows: Record<string, string>[] = [];
  for (const slice of slices) {
    const text = gunzipSync(await readFile(join(folder, slice))).toString('utf8');
    const records: string[][] = parse(text, { relax_column_count: false });
    for (const record of records) {
      rows.push(Object.fromEntries(manifest.columns.map((c, i) => [c, record[i] ?? ''])));
    }
  }
  return { manifest, slices, rows };
}

/** Source rows from the emulator, without `_timestamp`, values as strings. */
export function withoutTimestamp(
  rows: readonly Record<string, unknown>[],
): Record<string, string>[] {
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row)
        .filter(([key]) => key !== '_timestamp')
        .map(([key, value]) => [key, String(value)]),
    ),
  );
}

/** Rows sorted by their JSON form, for order-independent comparison. */
export function sortRows<T>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}
