/**
 * DuckDB adapter: one embedded database file holds every emulated table (all columns VARCHAR plus
 * `_timestamp BIGINT`). Writes go through one connection in a FIFO queue (imports into a table run
 * one after another, as in Storage); exports stream from their own connection, chunk by chunk, so
 * no table is ever held in memory.
 */
import { createRequire } from 'node:module';
import { TextDecoder } from 'node:util';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { LineEnding } from './csv-format.js';
import {
  TIMESTAMP_COLUMN,
  createTableSql,
  dedupeInPlaceSql,
  dedupeSelectSql,
  exportSelectSql,
  generateSelectSql,
  insertCsvSql,
  keyCountsSql,
  keyMatchSql,
  logicalColumnName,
  quoteColumn,
  quoteIdent,
  quoteLiteral,
  readCsvSql,
  statsSql,
  type ChangeWindow,
} from './sql.js';

/**
 * `@duckdb/node-api` decodes every VARCHAR with a default `TextDecoder`, which drops a leading
 * U+FEFF of a value: `"\uFEFFbom"` was exported and read back as `"bom"` (found by an audit). The
 * decoder is a module export that each read looks up, so one that keeps the mark replaces it. A
 * version of the package without it fails here, at start, and the BOM test in CI with it.
 */
const dataAccessors = createRequire(import.meta.url)(
  '@duckdb/node-api/lib/vectors/dataAccessors.js',
) as { textDecoder: TextDecoder };
dataAccessors.textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

export interface TableStats {
  readonly rowsCount: number;
  readonly dataSizeBytes: number;
}

/** How an import lands in the table (docs/storage-api-notes.md, How a load lands). */
export type LoadMode = 'full' | 'append' | 'upsert';

/**
 * How a load's rows went in (tests and diagnostics): through a staging table or straight from the
 * files, and whether repeated keys in the file were collapsed (`deduped`).
 */
export interface LoadRoute {
  readonly staged: boolean;
  readonly deduped: boolean;
}

/** Staged import input: CSV files (or none) and the columns they hold, in file order. */
export interface LoadSource {
  readonly paths: readonly string[];
  readonly fileColumns: readonly string[];
  /** The first line of each file is a header to skip. */
  readonly header: boolean;
  /** How every file's records end, when known ({@link sharedLineEnding}); else DuckDB guesses. */
  readonly newLine?: LineEnding | undefined;
}

/**
 * Instance-wide settings (`SET GLOBAL`: the config map of `DuckDBInstance.create` did not apply
 * `disabled_compression_methods` in 1.5.5).
 * - No string compression: choosing and applying FSST / dictionary for every VARCHAR segment cost
 *   about 3× the CPU of parsing the CSV itself on large imports (scripts/emulator-import-probe.ts);
 *   uncompressed tables take about 2.6× the disk of compressed ones and scan faster.
 * - Insertion order kept (DuckDB's default, stated because loads rely on it): a load's rows land
 *   in file order, and exports read them back in that order.
 */
const INSTANCE_SETTINGS = [
  `SET GLOBAL disabled_compression_methods = 'fsst,dictionary,dict_fsst'`,
  'SET GLOBAL preserve_insertion_order = true',
];

export class TableDb {
  readonly #instance: DuckDBInstance;
  readonly #writer: DuckDBConnection;
  #queue: Promise<unknown> = Promise.resolve();
  #stagingSeq = 0;
  /** The write running on the writer connection, if any. */
  #running: Promise<unknown> | undefined;
  #closing = false;

  private constructor(instance: DuckDBInstance, writer: DuckDBConnection) {
    this.#instance = instance;
    this.#writer = writer;
  }

  /** Opens (creating) the database file. */
  static async open(path: string): Promise<TableDb> {
    const instance = await DuckDBInstance.create(path);
    const writer = await instance.connect();
    for (const setting of INSTANCE_SETTINGS) await writer.run(setting);
    return new TableDb(instance, writer);
  }

  /** Runs `fn` on the writer connection after every earlier write finished; none after close. */
  #serialize<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#closing) throw new Error('The emulator was closed.');
      const running = fn(this.#writer);
      this.#running = running;
      const settled = () => {
        if (this.#running === running) this.#running = undefined;
      };
      running.then(settled, settled);
      return running;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Every write queued from now on waits until `gate` settles (a busy backend: faults). */
  holdWrites(gate: Promise<unknown>): void {
    const held = this.#queue.then(() => gate);
    this.#queue = held.catch(() => undefined);
  }

  async #transaction<T>(conn: DuckDBConnection, fn: () => Promise<T>): Promise<T> {
    await conn.run('BEGIN TRANSACTION');
    try {
      const result = await fn();
      await conn.run('COMMIT');
      return result;
    } catch (error) {
      await conn.run('ROLLBACK');
      throw error;
    }
  }

  createTable(table: string, columns: readonly string[]): Promise<void> {
    return this.#serialize(async (conn) => {
      await conn.run(createTableSql(table, columns));
    });
  }

  /** Drops a table (DELETE of a table or of a bucket with `force`). */
  dropTable(table: string): Promise<void> {
    return this.#serialize(async (conn) => {
      await conn.run(`DROP TABLE IF EXISTS ${table}`);
    });
  }

  /** Loads a CSV file with a header row; its columns must be `columns` in that order. */
  seedFromCsv(table: string, path: string, columns: readonly string[], ts: number): Promise<void> {
    const sql = insertCsvSql(table, columns, readCsvSql([path], columns, true), ts);
    return this.#serialize(async (conn) => {
      await conn.run(sql);
    });
  }

  /** Inserts literal rows stamped `ts`, in batches. */
  insertRows(
    table: string,
    columns: readonly string[],
    rows: readonly (readonly string[])[],
    ts: number,
  ): Promise<void> {
    return this.insertRowsRaw(table, columns, rows, ts);
  }

  /** Deterministic synthetic rows via SQL `range()`. */
  insertGenerated(
    table: string,
    columns: readonly string[],
    keyColumn: string,
    rows: number,
    ts: number,
  ): Promise<void> {
    return this.#serialize(async (conn) => {
      await conn.run(`INSERT INTO ${table} ${generateSelectSql(columns, keyColumn, rows, ts)}`);
    });
  }

  /** Row count and the summed byte length of all values. */
  stats(table: string, columns: readonly string[]): Promise<TableStats> {
    return this.#serialize(async (conn) => {
      const row = await firstRow(conn, statsSql(table, columns));
      return { rowsCount: Number(row.n ?? 0), dataSizeBytes: Number(row.bytes ?? 0) };
    });
  }

  /**
   * Streams the export query's rows in DuckDB chunks (about 2048 rows each) from a dedicated
   * connection. Values are strings (NULL read as empty).
   */
  async *streamRows(
    table: string,
    columns: readonly string[],
    window: ChangeWindow,
  ): AsyncGenerator<string[][]> {
    const conn = await this.#instance.connect();
    try {
      const result = await conn.stream(exportSelectSql(table, columns, window));
      for await (const chunk of result) {
        yield chunk.getRows().map((row) => row.map((v) => String(v)));
      }
    } finally {
      conn.closeSync();
    }
  }

  /** Every row as an object with `_timestamp` as a number (tests and control API only). */
  readAllRows(table: string): Promise<Record<string, unknown>[]> {
    return this.#serialize(async (conn) => {
      const reader = await conn.runAndReadAll(`SELECT * FROM ${table}`);
      return reader.getRowObjectsJS().map((row) => {
        const out: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(row)) {
          out[logicalColumnName(key)] = typeof value === 'bigint' ? Number(value) : (value ?? '');
        }
        return out;
      });
    });
  }

  /** Adds VARCHAR columns (existing rows get ''). */
  addColumns(table: string, columns: readonly string[]): Promise<void> {
    return this.#serialize(async (conn) => {
      for (const column of columns) {
        await conn.run(`ALTER TABLE ${table} ADD COLUMN ${quoteColumn(column)} VARCHAR DEFAULT ''`);
      }
    });
  }

  /** Deletes rows whose values equal every field of one of `matches`. Returns rows deleted. */
  deleteMatching(
    table: string,
    matches: readonly Readonly<Record<string, string>>[],
  ): Promise<number> {
    return this.#serialize(async (conn) => {
      let deleted = 0;
      for (const match of matches) {
        const where = Object.entries(match)
          .map(([c, v]) => `${quoteColumn(c)} = ${quoteLiteral(v)}`)
          .join(' AND ');
        if (where === '') continue;
        const result = await conn.run(`DELETE FROM ${table} WHERE ${where}`);
        deleted += result.rowsChanged;
      }
      return deleted;
    });
  }

  /**
   * Loads `source` into `table` (whose columns are `tableColumns`): `full` truncates first,
   * `append` adds, `upsert` replaces rows with matching `key`. With a key, in-file duplicates
   * collapse to the last occurrence. Rows whose values did not change keep their `_timestamp` on
   * upsert; every other loaded row gets `ts`. Atomic.
   *
   * Full loads, appends and upserts into an empty table insert straight from the files, in file
   * order; upserts into a table with rows go through a staging table and leave unchanged rows
   * where they are.
   */
  load(
    table: string,
    tableColumns: readonly string[],
    key: readonly string[],
    source: LoadSource,
    mode: LoadMode,
    ts: number,
    /** Typed tables: an upsert stamps unchanged rows too (docs/storage-api-notes.md, How a load lands). */
    options: { readonly alwaysBump?: boolean } = {},
  ): Promise<LoadRoute> {
    return this.#serialize(async (conn) => {
      const plan = { table, tableColumns, key, source, mode, ts };
      const direct = await this.#transaction(conn, () => insertDirect(conn, plan));
      if (direct) return direct;
      const staging = quoteIdent(`staging_${++this.#stagingSeq}`);
      await conn.run(stagingSql(staging, source));
      try {
        const deduped = await this.#transaction(conn, () =>
          applyStaged(conn, {
            table,
            tableColumns,
            key,
            staging,
            ts,
            ...(options.alwaysBump === true && { alwaysBump: true }),
          }),
        );
        return { staged: true, deduped };
      } finally {
        await conn.run(`DROP TABLE IF EXISTS ${staging}`);
      }
    });
  }

  /** Upserts (with a key) or appends literal rows: the control API's `upsertRows`. */
  async upsertLiteralRows(
    table: string,
    tableColumns: readonly string[],
    key: readonly string[],
    rows: readonly (readonly string[])[],
    ts: number,
  ): Promise<void> {
    const staging = quoteIdent(`staging_${++this.#stagingSeq}`);
    await this.#serialize(async (conn) => {
      const defs = tableColumns.map((c) => `${quoteColumn(c)} VARCHAR`).join(', ');
      await conn.run(`CREATE TEMP TABLE ${staging} (__rn BIGINT, ${defs})`);
    });
    const literal = [...rows.map((row, i) => [String(i + 1), ...row])];
    await this.insertRowsRaw(staging, ['__rn', ...tableColumns], literal);
    await this.#serialize(async (conn) => {
      try {
        await this.#transaction(conn, () =>
          applyStaged(conn, { table, tableColumns, key, staging, ts, alwaysBump: true }),
        );
      } finally {
        await conn.run(`DROP TABLE IF EXISTS ${staging}`);
      }
    });
  }

  /** Inserts literal rows in batches of 500; with `ts`, stamps each row's `_timestamp` with it. */
  private insertRowsRaw(
    table: string,
    columns: readonly string[],
    rows: readonly (readonly string[])[],
    ts?: number,
  ): Promise<void> {
    const names = (ts === undefined ? columns : [...columns, TIMESTAMP_COLUMN])
      .map(quoteColumn)
      .join(', ');
    const stamp = ts === undefined ? '' : `, ${ts}`;
    return this.#serialize(async (conn) => {
      for (let i = 0; i < rows.length; i += 500) {
        const batch = rows.slice(i, i + 500);
        if (batch.length === 0) continue;
        const values = batch
          .map((row) => `(${columns.map((_, c) => quoteLiteral(row[c] ?? '')).join(', ')}${stamp})`)
          .join(', ');
        await conn.run(`INSERT INTO ${table} (${names}) VALUES ${values}`);
      }
    });
  }

  /**
   * Closes the database. A write still running (a large `generate`) is interrupted and waited for
   * first: DuckDB closed under a running query left the process unable to exit. Writes queued
   * behind it fail.
   */
  async close(): Promise<void> {
    this.#closing = true;
    const running = this.#running;
    if (running) {
      this.#writer.interrupt();
      await running.catch(() => undefined);
    }
    this.#writer.closeSync();
    this.#instance.closeSync();
  }
}

function stagingSql(staging: string, source: LoadSource): string {
  const list = source.fileColumns.map(
    (c) => `COALESCE(${quoteColumn(c)}, '') AS ${quoteColumn(c)}`,
  );
  if (source.paths.length === 0) {
    const empty = source.fileColumns.map((c) => `CAST(NULL AS VARCHAR) AS ${quoteColumn(c)}`);
    return `CREATE TEMP TABLE ${staging} AS SELECT CAST(0 AS BIGINT) AS __rn, ${empty.join(', ')} WHERE false`;
  }
  const read = readCsvSql(source.paths, source.fileColumns, source.header, source.newLine);
  return `CREATE TEMP TABLE ${staging} AS SELECT row_number() OVER () AS __rn, ${list.join(', ')} FROM ${read}`;
}

/** The table a load writes to, its key, and the `_timestamp` loaded rows get. */
interface LoadTarget {
  readonly table: string;
  readonly tableColumns: readonly string[];
  readonly key: readonly string[];
  readonly ts: number;
}

interface DirectPlan extends LoadTarget {
  readonly source: LoadSource;
  readonly mode: LoadMode;
}

/**
 * A load straight from the files, inside the caller's transaction, where that gives the staging
 * path's rows: full loads, appends, and upserts into an empty table (every file row is new).
 * Returns `undefined`, having changed nothing, for an upsert into a table with rows. Appends never
 * dedupe (an incremental load into a table with a key is an upsert; `upsert` without a key
 * appends).
 */
async function insertDirect(
  conn: DuckDBConnection,
  plan: DirectPlan,
): Promise<LoadRoute | undefined> {
  const { table, tableColumns, key, source, mode, ts } = plan;
  const dedupe = mode !== 'append' && key.length > 0;
  if (mode === 'upsert' && dedupe && !(await isEmpty(conn, table))) return undefined;
  if (mode === 'full') await conn.run(`DELETE FROM ${table}`);
  if (source.paths.length > 0) {
    const read = readCsvSql(source.paths, source.fileColumns, source.header, source.newLine);
    await conn.run(insertCsvSql(table, tableColumns, read, ts));
  }
  // With `dedupe` the table now holds only the file's rows, in file order.
  const counts = dedupe ? await keyCounts(conn, table, key) : undefined;
  if (!counts || counts.rows === counts.keys) return { staged: false, deduped: false };
  await conn.run(dedupeInPlaceSql(table, key));
  return { staged: false, deduped: true };
}

/** The first row of a query's result as a JS object (empty when there is none). */
async function firstRow(conn: DuckDBConnection, sql: string): Promise<Record<string, unknown>> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJS()[0] ?? {};
}

async function isEmpty(conn: DuckDBConnection, table: string): Promise<boolean> {
  const row = await firstRow(conn, `SELECT NOT EXISTS (SELECT 1 FROM ${table}) AS empty`);
  return row.empty === true;
}

/** Rows of `table` and distinct values of its `key` columns. */
async function keyCounts(
  conn: DuckDBConnection,
  table: string,
  key: readonly string[],
): Promise<{ rows: number; keys: number }> {
  const row = await firstRow(conn, keyCountsSql(table, key));
  return { rows: Number(row.n ?? 0), keys: Number(row.keys ?? 0) };
}

interface StagedPlan extends LoadTarget {
  readonly staging: string;
  /** Stamp every loaded row with `ts`, changed or not. */
  readonly alwaysBump?: boolean;
}

/**
 * Upserts a staging table (see {@link stagingSql}) by `key`, or appends it without a key, inside
 * the caller's transaction. Returns whether the staging rows repeated a key: only then does the
 * {@link dedupeSelectSql} window run (the upsert's join keeps no order, so unique keys need
 * neither the window nor its ORDER BY).
 */
async function applyStaged(conn: DuckDBConnection, plan: StagedPlan): Promise<boolean> {
  const { table, tableColumns, key, staging, ts } = plan;
  const names = tableColumns.map(quoteColumn).join(', ');
  if (key.length === 0) {
    const rows = dedupeSelectSql(staging, tableColumns, []);
    await conn.run(
      `INSERT INTO ${table} (${names}, ${quoteColumn(TIMESTAMP_COLUMN)}) SELECT *, ${ts} FROM (${rows})`,
    );
    return false;
  }
  const counts = await keyCounts(conn, staging, key);
  const repeated = counts.rows !== counts.keys;
  const rows = repeated
    ? dedupeSelectSql(staging, tableColumns, key)
    : `SELECT ${names} FROM ${staging}`;
  await upsert(conn, plan, rows, counts.keys);
  return repeated;
}

/**
 * Upserts `rows` (one per key, `keyCount` of them) into the table. A file row equal to the table
 * row with its key stays as it is, `_timestamp` included (unless `alwaysBump`); every other file
 * row replaces the table row with its key, or is added, stamped `ts`. When some key matches more
 * than one table row (only a table seeded with repeated keys has that), every matched row is
 * deleted and one file row per match inserted, each stamped as above.
 */
async function upsert(
  conn: DuckDBConnection,
  plan: StagedPlan,
  rows: string,
  keyCount: number,
): Promise<void> {
  const { table, tableColumns, key, ts } = plan;
  const names = tableColumns.map(quoteColumn).join(', ');
  const incoming = tableColumns.map((c) => `d.${quoteColumn(c)}`).join(', ');
  const oldTs = `o.${quoteColumn(TIMESTAMP_COLUMN)}`;
  const unchanged = tableColumns
    .map((c) => `o.${quoteColumn(c)} IS NOT DISTINCT FROM d.${quoteColumn(c)}`)
    .join(' AND ');
  const keep = plan.alwaysBump ? 'false' : `(${oldTs} IS NOT NULL AND ${unchanged})`;
  const merged = quoteIdent(`merged_${Date.now()}_${Math.random().toString(36).slice(2)}`);
  const target = `${names}, ${quoteColumn(TIMESTAMP_COLUMN)}`;
  await conn.run(
    `CREATE TEMP TABLE ${merged} AS SELECT ${incoming}, ` +
      `CASE WHEN ${keep} THEN ${oldTs} ELSE ${ts} END AS ${quoteColumn(TIMESTAMP_COLUMN)}, ` +
      `${keep} AS __keep FROM (${rows}) AS d LEFT JOIN ${table} AS o ON ${keyMatchSql('o', 'd', key)}`,
  );
  try {
    const merges = await firstRow(conn, `SELECT count(*) AS n FROM ${merged}`);
    const inPlace = Number(merges.n ?? 0) === keyCount;
    const changed = inPlace ? 'NOT d.__keep AND ' : '';
    await conn.run(
      `DELETE FROM ${table} WHERE EXISTS (SELECT 1 FROM ${merged} AS d WHERE ${changed}${keyMatchSql(table, 'd', key)})`,
    );
    await conn.run(
      `INSERT INTO ${table} (${target}) SELECT ${target} FROM ${merged}${inPlace ? ' WHERE NOT __keep' : ''}`,
    );
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${merged}`);
  }
}
