import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { missingColumnsMessage } from '../../../src/api-error.js';
import { matchRoute, parseBody, route, stripBranch } from '../../../src/router.js';
import { sliceSuffix, writeSlices } from '../../../src/slice-writer.js';

describe('routing', () => {
  const routes = [
    route('GET', '/v2/storage/tables/{tableId}', () => ({ status: 200, body: 1 })),
    route('POST', '/v2/storage/tables/{tableId}/export-async', () => ({ status: 202, body: 2 })),
  ];

  it('matches templates and extracts parameters', () => {
    const hit = matchRoute(routes, 'POST', '/v2/storage/tables/in.c-a.t/export-async');
    expect(hit?.route.template).toBe('/v2/storage/tables/{tableId}/export-async');
    expect(hit?.params).toEqual({ tableId: 'in.c-a.t' });
    expect(matchRoute(routes, 'DELETE', '/v2/storage/tables/x')).toBeUndefined();
  });

  it('strips the branch prefix', () => {
    expect(stripBranch('/v2/storage/branch/default/tables/x')).toBe('/v2/storage/tables/x');
  });

  it('parses JSON and form bodies; [] is an empty object', () => {
    expect(parseBody('{"a":1}', 'application/json')).toEqual({ a: 1 });
    expect(parseBody('[]', 'application/json')).toEqual({});
    expect(parseBody('a=1&b=x', 'application/x-www-form-urlencoded')).toEqual({ a: '1', b: 'x' });
    expect(parseBody('', undefined)).toEqual({});
  });

  it('builds the columnsNotMatch message of the reference', () => {
    expect(missingColumnsMessage(['missing'], ['id', 'name', 'missing'])).toBe(
      'Some columns are missing in the csv file. Missing columns: missing. Expected columns: id,name,missing. Please check if the expected delimiter "," is used in the csv file.',
    );
  });
});

async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function* chunksOf(rows: string[][], size: number) {
  for (let i = 0; i < rows.length; i += size) {
    await Promise.resolve();
    yield rows.slice(i, i + size);
  }
}

describe('slice writer', () => {
  it('names slices like Snowflake unloads', () => {
    expect(sliceSuffix(0, true)).toBe('0000_part_00.gz');
    expect(sliceSuffix(12, false)).toBe('0012_part_00');
  });

  it('splits rows into gzip slices of at most sliceRows rows', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => [String(i), `v"${i}`]);
    const stored = new Map<string, Buffer>();
    const result = await writeSlices(chunksOf(rows, 7), 10, true, async (suffix, body) => {
      const bytes = await collect(body);
      stored.set(suffix, bytes);
      return bytes.length;
    });
    expect(result.suffixes).toEqual(['0000_part_00.gz', '0001_part_00.gz', '0002_part_00.gz']);
    expect(result.rows).toBe(25);
    const lines = result.suffixes.map((s) => gunzipSync(stored.get(s)!).toString('utf8'));
    expect(lines.map((text) => text.split('\n').length - 1)).toEqual([10, 10, 5]);
    expect(lines[0]!.split('\n')[1]).toBe('"1","v""1"');
    expect(result.bytes).toBe([...stored.values()].reduce((n, b) => n + b.length, 0));
  });

  it('writes no slice for zero rows', async () => {
    const result = await writeSlices(chunksOf([], 5), 10, true, () => Promise.resolve(0));
    expect(result).toEqual({ suffixes: [], bytes: 0, rows: 0 });
  });
});
