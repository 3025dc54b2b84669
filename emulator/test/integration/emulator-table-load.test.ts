/**
 * `TableDb.load` on a real DuckDB file: the rows, their order and `_timestamp` after full load,
 * append and upsert from sliced gzip CSV, straight from the files or through a staging table, for
 * files with unique keys and with repeated keys (collapsed to the last occurrence), and atomicity
 * when a slice is bad.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TableDb, type LoadMode, type LoadRoute } from '../../src/table-db.js';

const TABLE = '"t"';
const COLUMNS = ['id', 'v'];
const BEFORE = 100;
const NOW = 200;
const DIRECT = { staged: false, deduped: false };
const DIRECT_DEDUPED = { staged: false, deduped: true };
const STAGED = { staged: true, deduped: false };
const STAGED_DEDUPED = { staged: true, deduped: true };

let dir: string;
let db: TableDb;
let files = 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'table-load-'));
  db = await TableDb.open(join(dir, 'tables.duckdb'));
  await db.createTable(TABLE, COLUMNS);
});

afterEach(async () => {
  await db.close();
  await rm(dir, { recursive: true, force: true });
});

/** Writes headerless gzip slices (one string per slice) and returns their paths. */
async function slices(...texts: string[]): Promise<string[]> {
  const paths = texts.map((_, i) => join(dir, `${++files}_${i}.csv.gz`));
  await Promise.all(texts.map((text, i) => writeFile(paths[i]!, gzipSync(text))));
  return paths;
}

function load(paths: string[], mode: LoadMode, key: string[]): Promise<LoadRoute> {
  return db.load(TABLE, COLUMNS, key, { paths, fileColumns: COLUMNS, header: false }, mode, NOW);
}

/** Rows in storage (= export) order as `[id, v, _timestamp]`. */
async function rows(): Promise<unknown[][]> {
  return (await db.readAllRows(TABLE)).map((r) => [r.id, r.v, r._timestamp]);
}

describe('full load', () => {
  it('loads a file with unique keys in file order, empty fields as empty strings', async () => {
    await db.insertRows(TABLE, COLUMNS, [['old', 'x']], BEFORE);
    expect(await load(await slices('"3","c"\n"1",\n', '"2",""\n'), 'full', ['id'])).toEqual(DIRECT);
    expect(await rows()).toEqual([
      ['3', 'c', NOW],
      ['1', '', NOW],
      ['2', '', NOW],
    ]);
  });

  it('collapses repeated keys across slices to the last occurrence, at its position', async () => {
    await db.insertRows(TABLE, COLUMNS, [['old', 'x']], BEFORE);
    const file = await slices('"a","1"\n"b","1"\n', '"a","2"\n"c","1"\n"b","2"\n');
    expect(await load(file, 'full', ['id'])).toEqual(DIRECT_DEDUPED);
    expect(await rows()).toEqual([
      ['a', '2', NOW],
      ['c', '1', NOW],
      ['b', '2', NOW],
    ]);
  });

  it('keeps the last occurrence across slices larger than a DuckDB row group', async () => {
    const n = 130_000; // a row group holds 122 880 rows
    const ids = Array.from({ length: n }, (_, i) => i);
    const slice = (list: number[], v: number) => list.map((i) => `"${i}","${v}"\n`).join('');
    const evens = ids.filter((i) => i % 2 === 0);
    const file = await slices(slice(ids, 0), slice([...ids].reverse(), 1), slice(evens, 2));
    expect(await load(file, 'full', ['id'])).toEqual(DIRECT_DEDUPED);
    // Odd ids last occur in slice 1 (descending), even ids in slice 2 (ascending).
    const odds = ids.filter((i) => i % 2 === 1).reverse();
    const expected = [...odds.map((i) => `${i}:1`), ...evens.map((i) => `${i}:2`)];
    const loaded = (await db.readAllRows(TABLE)).map((r) => `${String(r.id)}:${String(r.v)}`);
    expect(loaded.length).toBe(n);
    expect(loaded.join(',') === expected.join(','), 'rows in order of their last occurrence').toBe(
      true,
    );
  });

  it('checks a composite key as a whole', async () => {
    const file = await slices('"a","1"\n"a","2"\n', '"b","1"\n"a","1"\n');
    expect(await load(file, 'full', ['id', 'v'])).toEqual(DIRECT_DEDUPED);
    expect(await rows()).toEqual([
      ['a', '2', NOW],
      ['b', '1', NOW],
      ['a', '1', NOW],
    ]);
    expect(await load(await slices('"a","1"\n"a","2"\n'), 'full', ['id', 'v'])).toEqual(DIRECT);
    expect(await rows()).toEqual([
      ['a', '1', NOW],
      ['a', '2', NOW],
    ]);
  });

  it('keeps repeated rows without a key', async () => {
    expect(await load(await slices('"a","1"\n', '"a","1"\n'), 'full', [])).toEqual(DIRECT);
    expect(await rows()).toEqual([
      ['a', '1', NOW],
      ['a', '1', NOW],
    ]);
  });

  it('empties the table for a sliced file without slices', async () => {
    await db.insertRows(TABLE, COLUMNS, [['old', 'x']], BEFORE);
    expect(await load([], 'full', ['id'])).toEqual(DIRECT);
    expect(await rows()).toEqual([]);
  });

  it('leaves the table unchanged when a slice is not valid CSV', async () => {
    await db.insertRows(TABLE, COLUMNS, [['old', 'x']], BEFORE);
    const bad = await slices('"a","1"\n', '"b","1","extra"\n');
    await expect(load(bad, 'full', ['id'])).rejects.toThrow();
    await expect(load(bad, 'full', [])).rejects.toThrow();
    expect(await rows()).toEqual([['old', 'x', BEFORE]]);
  });
});

describe('append', () => {
  it('adds the file after the existing rows in file order, repeats included', async () => {
    await db.insertRows(TABLE, COLUMNS, [['z', '0']], BEFORE);
    expect(await load(await slices('"b","1"\n"a","1"\n', '"b","1"\n'), 'append', [])).toEqual(
      DIRECT,
    );
    expect(await rows()).toEqual([
      ['z', '0', BEFORE],
      ['b', '1', NOW],
      ['a', '1', NOW],
      ['b', '1', NOW],
    ]);
  });

  it('does not collapse repeated keys even when given a key', async () => {
    expect(await load(await slices('"a","1"\n"a","2"\n'), 'append', ['id'])).toEqual(DIRECT);
    expect(await rows()).toEqual([
      ['a', '1', NOW],
      ['a', '2', NOW],
    ]);
  });

  it('leaves the table unchanged when a slice is not valid CSV', async () => {
    await db.insertRows(TABLE, COLUMNS, [['z', '0']], BEFORE);
    await expect(load(await slices('"a","1"\n', '"b\n'), 'append', [])).rejects.toThrow();
    expect(await rows()).toEqual([['z', '0', BEFORE]]);
  });
});

describe('upsert', () => {
  beforeEach(async () => {
    await db.insertRows(
      TABLE,
      COLUMNS,
      [
        ['same', '1'],
        ['changed', '1'],
        ['untouched', '1'],
      ],
      BEFORE,
    );
  });

  const sorted = async () =>
    (await rows()).sort((a, b) => String(a[0]).localeCompare(String(b[0])));

  it('keeps the timestamp of unchanged rows and stamps changed and new ones', async () => {
    const file = await slices('"same","1"\n"changed","2"\n', '"new","1"\n');
    expect(await load(file, 'upsert', ['id'])).toEqual(STAGED);
    // Unchanged rows are not rewritten: they keep their place ahead of the replaced and new rows.
    expect((await rows()).slice(0, 2)).toEqual([
      ['same', '1', BEFORE],
      ['untouched', '1', BEFORE],
    ]);
    expect(await sorted()).toEqual([
      ['changed', '2', NOW],
      ['new', '1', NOW],
      ['same', '1', BEFORE],
      ['untouched', '1', BEFORE],
    ]);
  });

  it('collapses repeated keys in the file to the last occurrence', async () => {
    const file = await slices('"same","9"\n"changed","1"\n"new","1"\n', '"same","1"\n"new","2"\n');
    expect(await load(file, 'upsert', ['id'])).toEqual(STAGED_DEDUPED);
    expect(await sorted()).toEqual([
      ['changed', '1', BEFORE],
      ['new', '2', NOW],
      ['same', '1', BEFORE],
      ['untouched', '1', BEFORE],
    ]);
  });

  it('rewrites every matched row when the table itself repeats a key', async () => {
    await db.insertRows(TABLE, COLUMNS, [['same', '2']], BEFORE);
    expect(await load(await slices('"same","1"\n'), 'upsert', ['id'])).toEqual(STAGED);
    expect(await sorted()).toEqual([
      ['changed', '1', BEFORE],
      ['same', '1', BEFORE],
      ['same', '1', NOW],
      ['untouched', '1', BEFORE],
    ]);
  });

  it('stamps unchanged rows too on a typed table (alwaysBump)', async () => {
    const file = await slices('"same","1"\n"new","1"\n');
    await db.load(
      TABLE,
      COLUMNS,
      ['id'],
      { paths: file, fileColumns: COLUMNS, header: false },
      'upsert',
      NOW,
      {
        alwaysBump: true,
      },
    );
    expect(await sorted()).toEqual([
      ['changed', '1', BEFORE],
      ['new', '1', NOW],
      ['same', '1', NOW],
      ['untouched', '1', BEFORE],
    ]);
  });

  it('stamps unchanged rows too for the control API upsertRows', async () => {
    await db.upsertLiteralRows(
      TABLE,
      COLUMNS,
      ['id'],
      [
        ['same', '1'],
        ['new', '1'],
      ],
      NOW,
    );
    expect(await sorted()).toEqual([
      ['changed', '1', BEFORE],
      ['new', '1', NOW],
      ['same', '1', NOW],
      ['untouched', '1', BEFORE],
    ]);
  });

  it('leaves the table unchanged when a slice is not valid CSV', async () => {
    const before = await sorted();
    await expect(
      load(await slices('"same","2"\n', '"x",\n"y"\n'), 'upsert', ['id']),
    ).rejects.toThrow();
    expect(await sorted()).toEqual(before);
  });
});

describe('upsert into an empty table', () => {
  it('loads straight from the files like a full load', async () => {
    expect(await load(await slices('"b","1"\n', '"a",\n'), 'upsert', ['id'])).toEqual(DIRECT);
    expect(await rows()).toEqual([
      ['b', '1', NOW],
      ['a', '', NOW],
    ]);
  });

  it('collapses repeated keys to the last occurrence like a full load', async () => {
    const file = await slices('"a","1"\n"b","1"\n', '"a","2"\n');
    expect(await load(file, 'upsert', ['id'])).toEqual(DIRECT_DEDUPED);
    expect((await rows()).sort()).toEqual([
      ['a', '2', NOW],
      ['b', '1', NOW],
    ]);
  });
});
