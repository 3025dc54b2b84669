import { describe, expect, it } from 'vitest';
import { typeForBasetype, typeProblem } from '../../../src/backend-types.js';
import { parseDefinition } from '../../../src/routes/load-routes.js';

describe('typed table definitions per backend', () => {
  it('maps base types to each backend’s own type names', () => {
    expect(
      ['STRING', 'INTEGER', 'NUMERIC', 'FLOAT', 'BOOLEAN', 'TIMESTAMP'].map((b) =>
        typeForBasetype('bigquery', b),
      ),
    ).toEqual(['STRING', 'INT64', 'NUMERIC', 'FLOAT64', 'BOOL', 'TIMESTAMP']);
    expect(typeForBasetype('snowflake', 'INTEGER')).toBe('NUMBER');
    expect(typeForBasetype('snowflake', 'NOT-A-BASETYPE')).toBe('VARCHAR');
  });

  it('refuses another backend’s types; other backends are not checked', () => {
    expect(typeProblem('bigquery', 'VARCHAR', '255')).toBe(
      'Type "VARCHAR" is not a bigquery type.',
    );
    expect(typeProblem('snowflake', 'INT64', null)).toBe('Type "INT64" is not a snowflake type.');
    expect(typeProblem('snowflake', 'timestamp_ntz', null)).toBeUndefined();
    expect(typeProblem('redshift', 'ANYTHING', null)).toBeUndefined();
  });

  it('takes BigQuery decimal lengths P,S with S ≤ 9 (38 for BIGNUMERIC) and max(1, S) ≤ P ≤ S + 29 (+ 38)', () => {
    const fits = (type: string, lengths: string[]) =>
      lengths.filter((length) => typeProblem('bigquery', type, length) === undefined);
    expect(fits('NUMERIC', ['38,9', '29,9', '29', '29,0', '1', '9,9', '1,0', ' 10 , 2 '])).toEqual([
      '38,9',
      '29,9',
      '29',
      '29,0',
      '1',
      '9,9',
      '1,0',
      ' 10 , 2 ',
    ]);
    expect(
      fits('numeric', ['38,0', '30', '39,10', '10,10', '0', '5,6', 'x', '1,2,3', '-1']),
    ).toEqual([]);
    expect(fits('DECIMAL', ['38,9', '38,8'])).toEqual(['38,9']);
    expect(
      fits('BIGNUMERIC', ['76,38', '38', '48,10', '1,0', '77,38', '39', '60,10', '40,39']),
    ).toEqual(['76,38', '38', '48,10', '1,0']);
    expect(fits('BIGDECIMAL', ['76,38', '76,37'])).toEqual(['76,38']);
    expect(typeProblem('bigquery', 'NUMERIC', '38,0')).toBe(
      'Length "38,0" is out of range for NUMERIC on bigquery (precision P and scale S with S at most 9 and P from max(1, S) to S + 29).',
    );
    expect(typeProblem('bigquery', 'NUMERIC', null)).toBeUndefined();
    expect(typeProblem('snowflake', 'NUMERIC', '38,0')).toBeUndefined();
  });

  it('a definition in a BigQuery bucket names the refused column; base types become BigQuery types', () => {
    expect(() =>
      parseDefinition(
        { name: 't', columns: [{ name: 'id', definition: { type: 'NUMBER', length: '38,0' } }] },
        'bigquery',
      ),
    ).toThrow('Column "id": Type "NUMBER" is not a bigquery type.');
    const parsed = parseDefinition(
      { name: 't', primaryKeysNames: ['id'], columns: [{ name: 'id', basetype: 'INTEGER' }] },
      'bigquery',
    );
    const numeric = { name: 'n', definition: { type: 'NUMERIC', length: '38,9' } };
    expect(parseDefinition({ name: 't', columns: [numeric] }, 'bigquery').columns).toHaveLength(1);
    expect(parsed.columns).toEqual([
      {
        name: 'id',
        definition: { type: 'INT64', nullable: false, length: null },
        basetype: 'INTEGER',
      },
    ]);
  });
});
