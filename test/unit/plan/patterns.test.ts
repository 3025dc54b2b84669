import { describe, expect, it } from 'vitest';
import type { TableConfig } from '../../../src/config/types.js';
import { globToRegExp, isPattern, matchesGlob } from '../../../src/config/glob.js';
import { expandPatterns, planTables } from '../../../src/plan/plan-tables.js';
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
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(matchesGlob(pattern, name)).toBe(expected);
  });

  it('tells patterns from names and anchors the expression', () => {
    expect(isPattern('sales_*')).toBe(true);
    expect(isPattern('orders')).toBe(false);
    expect(globToRegExp('a*').source).toBe('^a.*$');
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
