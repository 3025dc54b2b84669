import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SeedError, parseSeed, seedTableColumns, seedTablePrimaryKey } from '../../../src/seed.js';

const TOKEN = `1-10-${'a'.repeat(40)}`;

function seedWith(
  table: Record<string, unknown>,
  token: Record<string, unknown> = { token: TOKEN },
) {
  return {
    projects: [{ id: 1, name: 'P', buckets: [{ id: 'in.c-x', tables: [table] }], tokens: [token] }],
  };
}

function problemsOf(value: unknown): readonly string[] {
  try {
    parseSeed(value);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(SeedError);
    return (error as SeedError).problems;
  }
}

describe('parseSeed', () => {
  it('accepts the demo seed', () => {
    const text = readFileSync(new URL('../../../seed/seed.json', import.meta.url), 'utf8');
    const seed = parseSeed(JSON.parse(text));
    expect(seed.projects.map((p) => p.id)).toEqual([101, 202]);
  });

  it('applies defaults', () => {
    const seed = parseSeed(seedWith({ name: 't', columns: ['id'] }));
    const project = seed.projects[0]!;
    expect(project.fileStorageProvider).toBe('aws');
    expect(project.region).toBe('us-east-1');
  });

  it('takes columns and key from a typed definition', () => {
    const seed = parseSeed(
      seedWith({
        name: 't',
        definition: { primaryKeysNames: ['id'], columns: [{ name: 'id', basetype: 'INTEGER' }] },
      }),
    );
    const table = seed.projects[0]!.buckets[0]!.tables[0]!;
    expect(seedTableColumns(table)).toEqual(['id']);
    expect(seedTablePrimaryKey(table)).toEqual(['id']);
  });

  it('checks a typed table’s column types against its project’s backend, as tables-definition does', () => {
    const typed = (backend: string | undefined, type: string, length: string) => {
      const seed = seedWith({
        name: 't',
        definition: { columns: [{ name: 'n', definition: { type, length } }] },
      });
      return {
        projects: [{ ...seed.projects[0]!, ...(backend ? { defaultBackend: backend } : {}) }],
      };
    };
    expect(problemsOf(typed('bigquery', 'NUMERIC', '38,9'))).toEqual([]);
    expect(problemsOf(typed('bigquery', 'BIGNUMERIC', '60,10'))).toEqual([
      'projects.0.buckets.0.tables.0.definition.columns.0.definition: Length "60,10" is out of range for BIGNUMERIC on bigquery (precision P and scale S with S at most 38 and P from max(1, S) to S + 38).',
    ]);
    expect(problemsOf(typed('bigquery', 'NUMBER', '38,0'))).toEqual([
      'projects.0.buckets.0.tables.0.definition.columns.0.definition: Type "NUMBER" is not a bigquery type.',
    ]);
    // A project without defaultBackend is a Snowflake project.
    expect(problemsOf(typed(undefined, 'NUMBER', '38,0'))).toEqual([]);
    expect(problemsOf(typed(undefined, 'INT64', ''))).toEqual([
      'projects.0.buckets.0.tables.0.definition.columns.0.definition: Type "INT64" is not a snowflake type.',
    ]);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(
      seedWith(
        {
          name: 't',
          columns: ['id', 'id'],
          primaryKey: ['nope'],
          rows: [['1']],
          generate: { rows: 1 },
        },
        { token: `2-10-${'a'.repeat(40)}`, bucketPermissions: { 'in.c-missing': 'read' } },
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('use only one of csv, rows, generate'),
        expect.stringContaining('duplicate names'),
        expect.stringContaining('unknown column "nope"'),
        expect.stringContaining('must start with the project id "1-"'),
        expect.stringContaining('unknown bucket "in.c-missing"'),
      ]),
    );
  });

  it('rejects malformed tokens, bucket ids and table names with paths', () => {
    const problems = problemsOf({
      projects: [
        {
          id: 1,
          name: 'P',
          buckets: [{ id: 'bad', tables: [{ name: 'a.b', columns: ['x'] }] }],
          tokens: [{ token: 'secret' }],
        },
      ],
    });
    expect(problems.some((p) => p.startsWith('projects.0.buckets.0.id:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('projects.0.buckets.0.tables.0.name:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('projects.0.tokens.0.token:'))).toBe(true);
  });

  it('has one master token of each role in the demo seed', () => {
    const text = readFileSync(new URL('../../../seed/seed.json', import.meta.url), 'utf8');
    const tokens = parseSeed(JSON.parse(text)).projects[0]?.tokens ?? [];
    expect(tokens.filter((t) => t.isMasterToken).map((t) => t.role)).toEqual([
      'admin',
      'share',
      'guest',
      'readOnly',
    ]);
  });

  it('gives a role to master tokens only', () => {
    expect(
      problemsOf(seedWith({ name: 't', columns: ['id'] }, { token: TOKEN, role: 'guest' })),
    ).toEqual([
      'projects.0.tokens.0.role: only master tokens have a role (set "isMasterToken": true)',
    ]);
    expect(
      problemsOf(
        seedWith(
          { name: 't', columns: ['id'] },
          { token: TOKEN, isMasterToken: true, role: 'boss' },
        ),
      ),
    ).toEqual([expect.stringMatching(/^projects\.0\.tokens\.0\.role:/)]);
  });

  it('requires columns unless a CSV provides them', () => {
    expect(problemsOf(seedWith({ name: 't' }))).toEqual([
      expect.stringContaining('columns: required unless'),
    ]);
    expect(problemsOf(seedWith({ name: 't', csv: 't.csv' }))).toEqual([]);
  });
});
