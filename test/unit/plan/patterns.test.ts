import { describe, expect, it } from 'vitest';
import type { TableConfig } from '../../../src/config/types.js';
import { isPattern, matchesGlob } from '../../../src/config/glob.js';
import { expandPatterns, planTables, usableTables } from '../../../src/plan/plan-tables.js';
import { tableConfig, tableDetail } from '../../helpers/fixtures.js';

const bucket = [
  tableDetail('sales_eu', { primaryKey: ['id'] }),
  tableDetail('orders'),
  tableDetail('sales_us', { primaryKey: [] }),
  tableDetail('tmp_x'),
];

const names = (tables: readonly TableConfig[], exclude: readonly string[] = []) =>
  expandPatterns(tables, exclude, 'in.c-sales', bucket).tables.map((entry) => [
    entry.table.name,
    entry.pattern ?? null,
    entry.index,
  ]);

describe('glob', () => {
  it.each([
    ['*', 'anything', true],
    ['sales_*', 'sales_eu', true],
    ['sales_*', 'sales_', true],
    ['sales_*', 'presales_eu', false],
    ['s?les', 'sales', true],
    ['a.b', 'axb', false],
    ['orders', 'orders', true],
    ['(x)', '(x)', true],
    ['c-*', 'c-sales', true],
    ['sales-?', 'sales-1', true],
    ['sales-*', 'sales_eu', false],
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(matchesGlob(pattern, name)).toBe(expected);
  });

  it.each([
    ['a*', 'ab', true],
    ['*a', 'ba', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbYcZ', false],
    ['**', '', true],
    ['?', '', false],
    ['?', 'é', true],
    ['x*', 'y', false],
  ])('%s matches %s: %s (anchored at both ends)', (pattern, name, expected) => {
    expect(matchesGlob(pattern, name)).toBe(expected);
  });

  it('tells patterns from names', () => {
    expect(isPattern('sales_*')).toBe(true);
    expect(isPattern('orders')).toBe(false);
  });

  it('matches many stars against a name that almost matches in bounded steps', () => {
    // A `.*` regular expression takes minutes on this; the walk ends at once (no time asserted:
    // the test would hang, hitting its bound, if it backtracked exponentially).
    expect(matchesGlob(`${'*a'.repeat(40)}*b`, 'a'.repeat(200))).toBe(false);
    expect(matchesGlob(`${'*a'.repeat(40)}*`, 'a'.repeat(200))).toBe(true);
  });
});

describe('expandPatterns', () => {
  it('"*" expands to every table of the bucket in name order', () => {
    expect(names([tableConfig('*')])).toEqual([
      ['orders', '*', 0],
      ['sales_eu', '*', 0],
      ['sales_us', '*', 0],
      ['tmp_x', '*', 0],
    ]);
  });

  it('a prefix, exclude, and an explicit item that overrides the pattern', () => {
    expect(
      names(
        [
          tableConfig('sales_*', { incremental: true }),
          tableConfig('sales_us', { destination: 'us' }),
        ],
        ['tmp_*'],
      ),
    ).toEqual([
      ['sales_eu', 'sales_*', 0],
      ['sales_us', null, 1],
    ]);
    expect(names([tableConfig('*')], ['tmp_*', 'orders'])).toEqual([
      ['sales_eu', '*', 0],
      ['sales_us', '*', 0],
    ]);
  });

  it('the first pattern wins; explicit items are kept even when excluded', () => {
    expect(
      names([tableConfig('sales_*'), tableConfig('*'), tableConfig('tmp_x')], ['tmp_*']),
    ).toEqual([
      ['sales_eu', 'sales_*', 0],
      ['sales_us', 'sales_*', 0],
      ['orders', '*', 1],
      ['tmp_x', null, 2],
    ]);
  });

  it('a pattern that matches nothing is a warning, and so is one for another bucket', () => {
    const result = expandPatterns(
      [tableConfig('zz_*'), tableConfig('in.c-other.*')],
      [],
      'in.c-sales',
      bucket,
    );
    expect(result.tables).toEqual([]);
    expect(result.warnings).toEqual([
      'The pattern "zz_*" (tables[0]) matches no table of the bucket "in.c-sales".',
      'The pattern "in.c-other.*" names the bucket "in.c-other", but the source token reads only "in.c-sales": it matches no table.',
    ]);
  });
});

describe('table names the source lists that break the naming rules', () => {
  const token = '1234-5678-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCD';
  const odd = [
    tableDetail('orders'),
    tableDetail(token),
    tableDetail(''),
    tableDetail('a/b\u202e'),
    tableDetail('x'.repeat(97)),
  ];

  it('a pattern skips each, with a warning that shows it masked and escaped', () => {
    const result = expandPatterns([tableConfig('*')], [], 'in.c-sales', odd);
    expect(result.tables.map((entry) => entry.table.name)).toEqual(['orders']);
    const skips = (shown: string, why: string) =>
      `The pattern "*" (tables[0]) skips the source table ${shown}: its name ${why}, so it never becomes a file name or a state key; rename the table in the source project to copy it.`;
    const invalid = 'is not a valid table name (1 to 96 letters, digits, "_" and "-")';
    expect(result.warnings).toEqual([
      skips('""', 'is empty'),
      skips('"[hidden]"', 'looks like a Storage API token'),
      skips('"a/b\\u{202e}"', invalid),
      skips(`"${'x'.repeat(97)}"`, invalid),
    ]);
  });

  it('an excluded one is skipped without a warning', () => {
    const result = expandPatterns([tableConfig('*')], ['1234-*'], 'in.c-sales', odd.slice(0, 2));
    expect(result).toEqual({ tables: [expect.objectContaining({ pattern: '*' })], warnings: [] });
  });

  it('the sync actions list only the usable tables, and no hint suggests another', () => {
    expect(usableTables(odd).tables.map((t) => t.name)).toEqual(['orders']);
    expect(usableTables(odd).warnings[0]).toBe(
      'The source table "[hidden]" is left out: its name looks like a Storage API token.',
    );
    const near = tableDetail(`${token.slice(0, -1)}E`);
    expect(() =>
      planTables({ tables: [tableConfig('orderz')] }, 'in.c-sales', [near, tableDetail('orders')]),
    ).toThrow(
      'The table "orderz" was not found in the bucket "in.c-sales" (did you mean "orders"?).',
    );
  });
});

describe('table names that hold a token of the config or its secret part (the 40 characters after the public ids)', () => {
  const sourceToken = '4242-67319-ca11ab1eca11ab1e00000000000000000000000b';
  const secretPart = 'ca11ab1eca11ab1e00000000000000000000000b';
  const listed = [
    tableDetail('orders'),
    tableDetail(`c_${secretPart}`),
    tableDetail(`${'x'.repeat(80)}${secretPart}`),
  ];
  const config = (tables: readonly TableConfig[]) => ({
    tables,
    source: { url: 'https://connection.keboola.com', token: sourceToken },
  });

  it('a pattern skips them, with a warning that hides the secret before the name is cut', () => {
    const warnings: string[] = [];
    const plans = planTables(config([tableConfig('*')]), 'in.c-sales', listed, undefined, (w) =>
      warnings.push(w),
    );
    expect(plans.map((plan) => plan.sourceId)).toEqual(['in.c-sales.orders']);
    const skips = (shown: string) =>
      `The pattern "*" (tables[0]) skips the source table ${shown}: its name holds a token of config.json or its secret part, so it never becomes a file name or a state key; rename the table in the source project to copy it.`;
    expect(warnings).toEqual([skips('"c_[hidden]"'), skips(`"${'x'.repeat(80)}[hidden]"`)]);
    expect(warnings.join('\n')).not.toContain(secretPart.slice(0, 8));
  });

  it('the sync actions leave them out', () => {
    const usable = usableTables(listed, [sourceToken]);
    expect(usable.tables.map((t) => t.name)).toEqual(['orders']);
    expect(usable.warnings[0]).toBe(
      'The source table "c_[hidden]" is left out: its name holds a token of config.json or its secret part.',
    );
  });
});

describe('planTables with patterns', () => {
  it('primaryKey "source" takes each table its own key, with incremental upsert or append', () => {
    const warnings: string[] = [];
    const plans = planTables(
      {
        tables: [tableConfig('sales_*', { incremental: true, primaryKey: 'source' })],
        exclude: [],
      },
      'in.c-sales',
      bucket,
      undefined,
      (warning) => warnings.push(warning),
    );
    expect(plans.map((p) => [p.sourceId, p.pattern, p.primaryKey, p.mode])).toEqual([
      ['in.c-sales.sales_eu', 'sales_*', ['id'], 'upsert'],
      ['in.c-sales.sales_us', 'sales_*', [], 'append'],
    ]);
    expect(warnings).toEqual([]);
  });

  it('--table selects one table a pattern expanded to, or the whole pattern', () => {
    const config = { tables: [tableConfig('sales_*'), tableConfig('orders')] };
    const only = (name: string) =>
      planTables(config, 'in.c-sales', bucket, {
        only: [name],
        fullRefresh: [],
        fullRefreshAll: false,
      }).map((p) => p.sourceId);
    expect(only('sales_us')).toEqual(['in.c-sales.sales_us']);
    expect(only('sales_*')).toEqual(['in.c-sales.sales_eu', 'in.c-sales.sales_us']);
  });
});
