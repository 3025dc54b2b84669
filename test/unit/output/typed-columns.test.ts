import { describe, expect, it } from 'vitest';
import { otherBackend, typedColumns } from '../../../src/output/project-writer.js';

const definition = {
  primaryKeysNames: ['id'],
  columns: [
    {
      name: 'id',
      definition: { type: 'NUMBER', length: '38,0', nullable: false },
      basetype: 'NUMERIC',
    },
    { name: 'name', definition: { type: 'VARCHAR', length: '255' } },
  ],
};

describe('typed columns of a table to create', () => {
  it('keeps native definitions within one backend, in export order; an undefined column is a STRING', () => {
    expect(typedColumns(['name', 'id', 'extra'], definition, false, ['id'])).toEqual([
      definition.columns[1],
      definition.columns[0],
      { name: 'extra', basetype: 'STRING' },
    ]);
  });

  it('sends a primary-key column as not nullable, whatever the source says (the API refuses a nullable key)', () => {
    expect(typedColumns(['id', 'name', 'extra'], definition, false, ['name', 'extra'])).toEqual([
      definition.columns[0],
      { name: 'name', definition: { type: 'VARCHAR', length: '255', nullable: false } },
      { name: 'extra', basetype: 'STRING' },
    ]);
  });

  it('leaves out a null length or default, which the API describes as optional strings', () => {
    const withNulls = {
      primaryKeysNames: [],
      columns: [
        {
          name: 'note',
          definition: { type: 'VARCHAR', length: null, default: null, nullable: true },
          basetype: 'STRING',
        },
      ],
    };
    expect(typedColumns(['note'], withNulls, false, [])).toEqual([
      { name: 'note', definition: { type: 'VARCHAR', nullable: true }, basetype: 'STRING' },
    ]);
  });

  it('sends only base types across backends (a column without one is a STRING)', () => {
    expect(typedColumns(['id', 'name'], definition, true, ['name'])).toEqual([
      { name: 'id', basetype: 'NUMERIC' },
      { name: 'name', basetype: 'STRING' },
    ]);
  });

  it('counts backends as different only when both are known', () => {
    expect(otherBackend('snowflake', 'bigquery')).toBe('snowflake → bigquery');
    expect(otherBackend('snowflake', 'snowflake')).toBeUndefined();
    expect(otherBackend(undefined, 'bigquery')).toBeUndefined();
    expect(otherBackend('bigquery', undefined)).toBeUndefined();
  });
});
