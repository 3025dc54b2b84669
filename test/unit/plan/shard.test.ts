import { describe, expect, it } from 'vitest';
import { parseCli } from '../../../src/cli.js';
import { UserError } from '../../../src/errors.js';
import { planTables } from '../../../src/plan/plan-tables.js';
import { fnv1a32, inShard, parseShard } from '../../../src/plan/shard.js';
import { tableConfig, tableDetail } from '../../helpers/fixtures.js';

describe('fnv1a32', () => {
  it('matches the published FNV-1a 32-bit test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes the UTF-8 bytes, not UTF-16 code units', () => {
    // "é" is C3 A9 in UTF-8: two bytes folded in.
    const bytes = [0xc3, 0xa9];
    let expected = 0x811c9dc5;
    for (const byte of bytes) expected = Math.imul(expected ^ byte, 0x01000193) >>> 0;
    expect(fnv1a32('é')).toBe(expected);
  });
});

describe('inShard', () => {
  it('puts every table in exactly one shard', () => {
    const ids = Array.from({ length: 200 }, (_, i) => `in.c-sales.table_${i}`);
    for (const count of [1, 2, 3, 7]) {
      for (const id of ids) {
        const owners = Array.from({ length: count }, (_, index) => index).filter((index) =>
          inShard(id, { index, count }),
        );
        expect(owners).toHaveLength(1);
      }
    }
  });
});

describe('parseShard', () => {
  it.each([
    ['0/1', { index: 0, count: 1 }],
    ['2/3', { index: 2, count: 3 }],
    ['07/10', { index: 7, count: 10 }],
  ])('accepts %s', (text, shard) => {
    expect(parseShard(text)).toEqual(shard);
  });

  it.each([
    ['3/3', /--shard "3\/3": INDEX must be below COUNT, as shards are numbered from 0 to 2\./],
    ['0/0', /--shard "0\/0": COUNT must be at least 1\./],
    ['a/b', /--shard "a\/b" is not of the form INDEX\/COUNT/],
    ['-1/3', /is not of the form INDEX\/COUNT/],
    ['1', /is not of the form INDEX\/COUNT/],
    ['1.5/3', /is not of the form INDEX\/COUNT/],
    ['', /is not of the form INDEX\/COUNT/],
  ])('rejects %s with one sentence naming the flag', (text, pattern) => {
    expect(() => parseShard(text)).toThrow(UserError);
    expect(() => parseShard(text)).toThrow(pattern);
  });

  it('is reachable from the command line, for runs and actions', () => {
    expect(parseCli(['--shard', '1/3'])).toMatchObject({
      command: 'run',
      shard: { index: 1, count: 3 },
    });
    expect(parseCli(['action', 'plan', '--shard', '0/2'])).toMatchObject({
      command: 'action',
      shard: { index: 0, count: 2 },
    });
    expect(() => parseCli(['--shard', '3/3'])).toThrow(/INDEX must be below COUNT/);
    expect(() => parseCli(['--shard', 'a/b'])).toThrow(UserError);
  });
});

describe('planTables with a shard', () => {
  const names = ['orders', 'customers', 'products', 'events', 'invoices', 'payments'];
  const config = {
    tables: names.map((name) => tableConfig(name)),
  };
  const bucketTables = names.map((name) => tableDetail(name));
  const base = { only: [], fullRefresh: [], fullRefreshAll: false };

  it('splits the tables into disjoint shards that cover them all', () => {
    const shards = [0, 1, 2].map((index) =>
      planTables(config, 'in.c-sales', bucketTables, { ...base, shard: { index, count: 3 } }).map(
        (plan) => plan.sourceId,
      ),
    );
    const all = shards.flat();
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual(names.map((n) => `in.c-sales.${n}`).sort());
    for (const [index, ids] of shards.entries()) {
      for (const id of ids) expect(fnv1a32(id) % 3).toBe(index);
    }
  });

  it('with --table keeps only the named tables that belong to the shard', () => {
    const named = ['orders', 'customers', 'products'];
    const union = [0, 1].flatMap((index) =>
      planTables(config, 'in.c-sales', bucketTables, {
        ...base,
        only: named,
        shard: { index, count: 2 },
      }).map((plan) => plan.configName),
    );
    expect(union.sort()).toEqual([...named].sort());
  });
});
