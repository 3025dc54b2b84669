/**
 * Pure SQL text builders for the DuckDB table store. Every table has the user's columns as VARCHAR
 * plus `_timestamp BIGINT` (unix seconds of the row's last change, emulator clock).
 */

/** The internal change-time column; never part of a table's public `columns`. */
export const TIMESTAMP_COLUMN = '_timestamp';

/** `"name"` with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The DuckDB name of a table column. DuckDB matches identifiers regardless of case, quoted ones
 * too, while Storage keeps `id` and `ID` apart (Snowflake's quoted names are case-sensitive):
 * each capital letter A–Z is written as `^` and its small letter, and `^` as `^^`, so no two
 * column names meet in DuckDB (which folds A–Z only). A name without capitals or `^` is its own
 * DuckDB name, `_timestamp` and the staging tables' columns among them.
 */
export function physicalColumnName(name: string): string {
  return name.replace(/[A-Z^]/g, (ch) => (ch === '^' ? '^^' : `^${ch.toLowerCase()}`));
}

/** The column name that {@link physicalColumnName} wrote as `physical`. */
export function logicalColumnName(physical: string): string {
  return physical.replace(/\^([a-z^])/g, (_, ch: string) => (ch === '^' ? '^' : ch.toUpperCase()));
}

/** A table column's DuckDB name ({@link physicalColumnName}), quoted. */
export function quoteColumn(name: string): string {
  return quoteIdent(physicalColumnName(name));
}

/**
 * `'text'` with embedded quotes doubled. A text holding a NUL character, which a DuckDB string
 * literal cannot carry (the parser ends the literal there), is written as the expression
 * `decode(from_base64('…'))` of its UTF-8 bytes instead, so a value is stored as given.
 */
export function quoteLiteral(text: string): string {
  if (text.includes('\0')) {
    return `decode(from_base64('${Buffer.from(text, 'utf8').toString('base64')}'))`;
  }
  return `'${text.replaceAll("'", "''")}'`;
}

/** DuckDB table name for a Storage table of a project, e.g. `"p101:in.c-sales.orders"`. */
export function physicalTableName(projectId: number, tableId: string): string {
  return quoteIdent(`p${projectId}:${tableId}`);
}

/** `CREATE TABLE` with every column VARCHAR plus `_timestamp BIGINT`. */
export function createTableSql(table: string, columns: readonly string[]): string {
  const defs = columns.map((c) => `${quoteColumn(c)} VARCHAR`);
  defs.push(`${quoteColumn(TIMESTAMP_COLUMN)} BIGINT`);
  return `CREATE TABLE ${table} (${defs.join(', ')})`;
}

/** A value filter of an export or preview: `eq` is IN, `ne` is NOT IN (values as strings). */
export interface WhereFilter {
  readonly column: string;
  readonly operator: 'eq' | 'ne';
  readonly values: readonly string[];
}

/**
 * The rows an export reads: the half-open change window `since <= _timestamp < until`, value
 * filters (ANDed) and a row limit, all optional.
 */
export interface ChangeWindow {
  readonly changedSince?: number | undefined;
  readonly changedUntil?: number | undefined;
  readonly where?: readonly WhereFilter[] | undefined;
  readonly limit?: number | undefined;
}

/** WHERE clause (with leading ` WHERE`) for a change window and filters, or an empty string. */
export function windowWhereSql(window: ChangeWindow): string {
  const conditions: string[] = [];
  const ts = quoteColumn(TIMESTAMP_COLUMN);
  if (window.changedSince !== undefined) conditions.push(`${ts} >= ${window.changedSince}`);
  if (window.changedUntil !== undefined) conditions.push(`${ts} < ${window.changedUntil}`);
  for (const filter of window.where ?? []) {
    const value = `COALESCE(${quoteColumn(filter.column)}, '')`;
    if (filter.values.length === 0) {
      conditions.push(filter.operator === 'eq' ? 'FALSE' : 'TRUE');
      continue;
    }
    const list = filter.values.map(quoteLiteral).join(', ');
    conditions.push(`${value} ${filter.operator === 'eq' ? 'IN' : 'NOT IN'} (${list})`);
  }
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

/** Export query: the requested columns in order (NULL read as empty), rows in storage order. */
export function exportSelectSql(
  table: string,
  columns: readonly string[],
  window: ChangeWindow,
): string {
  const list = columns.map((c) => `COALESCE(${quoteColumn(c)}, '')`).join(', ');
  const limit = window.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(window.limit))}`;
  return `SELECT ${list} FROM ${table}${windowWhereSql(window)}${limit}`;
}

/**
 * Deterministic synthetic rows for `generate: {rows}`: the key column (the first primary-key
 * column, else the first column) holds 1..rows; every other column `<column>-<n>` with `n` a
 * cheap hash of the row number and column position.
 */
export function generateSelectSql(
  columns: readonly string[],
  keyColumn: string,
  rows: number,
  timestampSeconds: number,
): string {
  const values = columns.map((column, position) => {
    const value =
      column === keyColumn
        ? 'CAST(i AS VARCHAR)'
        : `${quoteLiteral(`${column}-`)} || CAST(((i * 2654435761 + ${position * 40503}) % 100000) AS VARCHAR)`;
    return `${value} AS ${quoteColumn(column)}`;
  });
  values.push(`CAST(${timestampSeconds} AS BIGINT) AS ${quoteColumn(TIMESTAMP_COLUMN)}`);
  return `SELECT ${values.join(', ')} FROM range(1, ${rows + 1}) AS t(i)`;
}

/**
 * The longest CSV line (one row, in bytes as written) a load reads. DuckDB's default of 2 MB
 * failed the import of a row holding a larger value, while Snowflake's `VARCHAR` holds 16 MiB
 * (16 777 216, the length Storage gives a string column); 64 MiB fits such a value even when
 * every character is a quote written twice, plus the rest of its row.
 */
const CSV_MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * `read_csv` over local files with every column VARCHAR and a fixed column list (no sniffing).
 * `header` skips the first line of each file. Reads `.gz` files transparently. A line may be up
 * to {@link CSV_MAX_LINE_BYTES} long.
 */
export function readCsvSql(
  paths: readonly string[],
  columns: readonly string[],
  header: boolean,
  newLine?: '\n' | '\r\n' | '\r',
): string {
  const files = `[${paths.map(quoteLiteral).join(', ')}]`;
  // DuckDB reads the escapes of this option's literal: a backslash and a letter per character.
  const ending =
    newLine === undefined
      ? ''
      : `new_line='${newLine.replaceAll('\r', '\\r').replaceAll('\n', '\\n')}', `;
  const types = columns.map((c) => `${quoteLiteral(physicalColumnName(c))}: 'VARCHAR'`).join(', ');
  return (
    `read_csv(${files}, header=${header}, delim=',', quote='"', escape='"', ` +
    `columns={${types}}, auto_detect=false, null_padding=false, strict_mode=true, ${ending}` +
    `max_line_size=${CSV_MAX_LINE_BYTES})`
  );
}

/**
 * `INSERT` of a {@link readCsvSql} relation into a table: its `columns` by name (NULL read as '',
 * as in every load), every row stamped `timestampSeconds`. Rows land in file order: the emulator
 * keeps DuckDB's `preserve_insertion_order`.
 */
export function insertCsvSql(
  table: string,
  columns: readonly string[],
  read: string,
  timestampSeconds: number,
): string {
  const target = [...columns, TIMESTAMP_COLUMN].map(quoteColumn).join(', ');
  const values = columns.map((c) => `COALESCE(${quoteColumn(c)}, '')`).join(', ');
  return `INSERT INTO ${table} (${target}) SELECT ${values}, ${timestampSeconds} FROM ${read}`;
}

/**
 * One row: `n` rows of `table` and `bytes`, the summed byte length of every value of `columns`.
 * A row's lengths are summed as one list (`list_sum`, which skips NULLs), not as `a + b + …`: a
 * chain of 1 000 additions exceeds DuckDB's expression depth limit, and a Storage table may be
 * wider than that.
 */
export function statsSql(table: string, columns: readonly string[]): string {
  const lengths = columns.map((c) => `strlen(${quoteColumn(c)})`).join(', ');
  const rowBytes = columns.length === 0 ? '0' : `list_sum([${lengths}])`;
  return `SELECT count(*) AS n, COALESCE(sum(${rowBytes}), 0) AS bytes FROM ${table}`;
}

/** One row: `n` rows of `table` and `keys` distinct (non-NULL) values of the key columns. */
export function keyCountsSql(table: string, key: readonly string[]): string {
  const columns = key.map(quoteColumn).join(', ');
  const distinct = key.length === 1 ? columns : `(${columns})`;
  return `SELECT count(*) AS n, count(DISTINCT ${distinct}) AS keys FROM ${table}`;
}

/**
 * Deletes every row of `table` but the last per key, "last" by `rowid`: DuckDB numbers the rows an
 * INSERT adds in insertion order (its order-preservation docs offer `rowid` as the original row
 * order of a table), so when the table holds only a loaded file's rows the survivor is the file's
 * last occurrence of its key, and survivors keep their place.
 */
export function dedupeInPlaceSql(table: string, key: readonly string[]): string {
  const partition = key.map(quoteColumn).join(', ');
  return (
    `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} ` +
    `QUALIFY row_number() OVER (PARTITION BY ${partition} ORDER BY rowid DESC) > 1)`
  );
}

/** `a = b AND …` over key columns between two aliases (NULL-safe). */
export function keyMatchSql(left: string, right: string, key: readonly string[]): string {
  return key
    .map((c) => `${left}.${quoteColumn(c)} IS NOT DISTINCT FROM ${right}.${quoteColumn(c)}`)
    .join(' AND ');
}

/**
 * The last row per key of a staging table (ordered by its `__rn` row number): in-file duplicates
 * collapse to the last occurrence. Without a key, every row.
 */
export function dedupeSelectSql(
  staging: string,
  columns: readonly string[],
  key: readonly string[],
): string {
  const list = columns.map(quoteColumn).join(', ');
  if (key.length === 0) return `SELECT ${list} FROM ${staging} ORDER BY __rn`;
  const partition = key.map(quoteColumn).join(', ');
  return (
    `SELECT ${list} FROM (SELECT *, row_number() OVER (PARTITION BY ${partition} ORDER BY __rn DESC) AS __dup ` +
    `FROM ${staging}) WHERE __dup = 1 ORDER BY __rn`
  );
}
