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

  it('refuses another backend’s types and BigQuery NUMERIC beyond 29,9; other backends are not checked', () => {
    expect(typeProblem('bigquery', 'VARCHAR', '255')).toBe(
      'Type "VARCHAR" is not a bigquery type.',
    );
    expect(typeProblem('bigquery', 'NUMERIC', '38,0')).toMatch(
      /out of range for NUMERIC on bigquery/,
    );
    expect(typeProblem('bigquery', 'numeric', '29,9')).toBeUndefined();
    expect(typeProblem('snowflake', 'INT64', null)).toBe('Type "INT64" is not a snowflake type.');
    expect(typeProblem('snowflake', 'timestamp_ntz', null)).toBeUndefined();
    expect(typeProblem('redshift', 'ANYTHING', null)).toBeUndefined();
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
    expect(parsed.columns).toEqual([
      {
        name: 'id',
        definition: { type: 'INT64', nullable: false, length: null },
        basetype: 'INTEGER',
      },
    ]);
  });
});
