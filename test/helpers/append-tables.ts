/**
 * Append tables (no primary key) for the sync-record and claims tests: a window imported twice
 * shows as duplicated rows. One table per test, so the tests of a file do not share rows.
 */
import type { EmulatorHandle, SeedInput } from 'keboola-storage-emulator';
import { compareRows, rowValues, type RowComparison } from './fault-matrix.js';
import {
  DEST_PROJECT,
  SOURCE_PROJECT,
  SOURCE_TOKEN,
  WRITER_TOKEN,
  standaloneConfig,
} from './standalone.js';

const COLUMNS = ['id', 'kind'];

/** Source `in.c-sales` with two rows per table, stamped an hour before `t0Seconds`; empty `in.c-copy`. */
export function appendSeed(tables: readonly string[], t0Seconds: number): SeedInput {
  return {
    projects: [
      {
        id: SOURCE_PROJECT,
        name: 'Source',
        fileStorageProvider: 'aws',
        buckets: [
          {
            id: 'in.c-sales',
            tables: tables.map((name) => ({
              name,
              columns: COLUMNS,
              rows: [
                ['1', 'click'],
                ['2', 'view'],
              ],
              timestamp: t0Seconds - 3_600,
            })),
          },
        ],
        tokens: [{ token: SOURCE_TOKEN, bucketPermissions: { 'in.c-sales': 'read' } }],
      },
      {
        id: DEST_PROJECT,
        name: 'Destination',
        fileStorageProvider: 'aws',
        buckets: [{ id: 'in.c-copy', tables: [] }],
        tokens: [{ token: WRITER_TOKEN, bucketPermissions: { 'in.c-copy': 'write' } }],
      },
    ],
  };
}

/** The config, row comparison and source change of the append tables, on one emulator. */
export function appendTables(emulator: Pick<EmulatorHandle, 'url' | 'control'>) {
  return {
    /** An incremental `lastRun` copy of `table` into `in.c-copy.<destination>`. */
    config: (table: string, destination = table): Record<string, unknown> =>
      standaloneConfig(emulator.url, [
        { name: table, destination, incremental: true, changedSince: 'lastRun' },
      ]),
    /** Source rows vs destination rows of one table, as multisets. */
    compare: async (source: string, destination = source): Promise<RowComparison> => {
      const { control } = emulator;
      const src = await control.tableRows(SOURCE_PROJECT, `in.c-sales.${source}`);
      const dst = await control.tableRows(DEST_PROJECT, `in.c-copy.${destination}`);
      return compareRows(rowValues(src, COLUMNS), rowValues(dst, COLUMNS));
    },
    /** Our items (provider `kbc-table-sync`) on `in.c-copy.<table>`. */
    syncItems: async (table: string): Promise<MetadataListItem[]> => {
      const path = `/v2/storage/tables/in.c-copy.${table}/metadata`;
      const response = await fetch(`${emulator.url}${path}`, {
        headers: { 'X-StorageApi-Token': WRITER_TOKEN },
      });
      const items = (await response.json()) as MetadataListItem[];
      return items.filter((m) => m.provider === 'kbc-table-sync');
    },
    addRow: async (table: string, id: string): Promise<void> => {
      await emulator.control.insertRows(SOURCE_PROJECT, `in.c-sales.${table}`, [
        { id, kind: 'new' },
      ]);
    },
  };
}

export const exactlyOnce = { lost: 0, duplicated: 0, unexpected: 0 };

/** A metadata item as the Storage API lists it. */
export interface MetadataListItem {
  id: string;
  key: string;
  value: string;
  provider: string;
}
