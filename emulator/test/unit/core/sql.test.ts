import { describe, expect, it } from 'vitest';
import {
  createTableSql,
  dedupeInPlaceSql,
  dedupeSelectSql,
  exportSelectSql,
  generateSelectSql,
  insertCsvSql,
  keyCountsSql,
  keyMatchSql,
  logicalColumnName,
  physicalColumnName,
  physicalTableName,
  quoteIdent,
  quoteLiteral,
  readCsvSql,
  windowWhereSql,
} from '../../../src/sql.js';

describe('SQL builders', () => {
  it('quotes identifiers and literals', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral('a\0b')).toBe(`decode(from_base64('YQBi'))`);
  });

  it('gives columns that differ only in case DuckDB names that differ regardless of case', () => {
    const names = ['id', 'ID', 'Id', 'iD', '^', 'a^b', '^i', '_TIMESTAMP', 'Žluť', '^^I'];
    const physical = names.map(physicalColumnName);
    expect(physical.slice(0, 4)).toEqual(['id', '^i^d', '^id', 'i^d']);
    expect(physical.every((name) => !/[A-Z]/.test(name))).toBe(true);
    expect(new Set(physical.map((name) => name.toLowerCase())).size).toBe(names.length);
    expect(physical.map(logicalColumnName)).toEqual(names);
    expect(physicalColumnName('_timestamp')).toBe('_timestamp');
    expect(physicalTableName(101, 'in.c-sales.orders')).toBe('"p101:in.c-sales.orders"');
  });

  it('creates VARCHAR tables with _timestamp', () => {
    expect(createTableSql('"t"', ['id', 'name'])).toBe(
      'CREATE TABLE "t" ("id" VARCHAR, "name" VARCHAR, "_timestamp" BIGINT)',
    );
  });

  it('builds the half-open change window', () => {
    expect(windowWhereSql({})).toBe('');
    expect(windowWhereSql({ changedSince: 10 })).toBe(' WHERE "_timestamp" >= 10');
    expect(windowWhereSql({ changedSince: 10, changedUntil: 20 })).toBe(
      ' WHERE "_timestamp" >= 10 AND "_timestamp" < 20',
    );
    expect(windowWhereSql({ changedUntil: 20 })).toBe(' WHERE "_timestamp" < 20');
  });

  it('selects export columns in the requested order', () => {
    expect(exportSelectSql('"t"', ['b', 'a'], { changedSince: 5 })).toBe(
      `SELECT COALESCE("b", ''), COALESCE("a", '') FROM "t" WHERE "_timestamp" >= 5`,
    );
  });

  it('generates rows from range() with the key column as the row number', () => {
    const sql = generateSelectSql(['id', 'name'], 'id', 3, 99);
    expect(sql).toContain('CAST(i AS VARCHAR) AS "id"');
    expect(sql).toContain(`'name-' ||`);
    expect(sql).toContain('CAST(99 AS BIGINT) AS "_timestamp"');
    expect(sql).toContain('FROM range(1, 4) AS t(i)');
  });

  it('reads CSV files with a fixed VARCHAR schema', () => {
    const sql = readCsvSql(['/a.csv.gz', "/b'.csv"], ['id', 'x'], false);
    expect(sql).toContain(`['/a.csv.gz', '/b''.csv']`);
    expect(sql).toContain('header=false');
    expect(sql).toContain(`columns={'id': 'VARCHAR', 'x': 'VARCHAR'}`);
    expect(sql).toContain('auto_detect=false');
  });

  it('dedupes by key keeping the last occurrence, or keeps all rows without a key', () => {
    expect(dedupeSelectSql('s', ['a', 'b'], [])).toBe('SELECT "a", "b" FROM s ORDER BY __rn');
    const sql = dedupeSelectSql('s', ['a', 'b'], ['a']);
    expect(sql).toContain('PARTITION BY "a" ORDER BY __rn DESC');
    expect(sql).toContain('WHERE __dup = 1');
  });

  it('inserts a read_csv relation by column name, NULL as empty, stamped', () => {
    expect(insertCsvSql('"t"', ['b', 'a'], 'read_csv(…)', 7)).toBe(
      `INSERT INTO "t" ("b", "a", "_timestamp") SELECT COALESCE("b", ''), COALESCE("a", ''), 7 FROM read_csv(…)`,
    );
  });

  it('dedupes a table in place, keeping the highest rowid per key', () => {
    expect(dedupeInPlaceSql('"t"', ['a', 'b'])).toBe(
      'DELETE FROM "t" WHERE rowid IN (SELECT rowid FROM "t" ' +
        'QUALIFY row_number() OVER (PARTITION BY "a", "b" ORDER BY rowid DESC) > 1)',
    );
  });

  it('counts rows and distinct keys', () => {
    expect(keyCountsSql('s', ['a'])).toBe(
      'SELECT count(*) AS n, count(DISTINCT "a") AS keys FROM s',
    );
    expect(keyCountsSql('s', ['a', 'b'])).toContain('count(DISTINCT ("a", "b")) AS keys');
  });

  it('matches keys NULL-safely', () => {
    expect(keyMatchSql('o', 'd', ['a', 'b'])).toBe(
      'o."a" IS NOT DISTINCT FROM d."a" AND o."b" IS NOT DISTINCT FROM d."b"',
    );
  });
});
