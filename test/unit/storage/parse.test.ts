import { describe, expect, it } from 'vitest';
import {
  earliestWithOffset,
  instantTime,
  normalizeTimestamp,
  parseFileDetail,
  parseJob,
  parseStorageTime,
  parseTable,
  parseTableList,
  parseTokenInfo,
  serverZoneOffsetMs,
  StorageResponseError,
  timestampMs,
} from '../../../src/storage/parse.js';
import {
  createsTableNamed,
  exportParamsMatch,
  jobMatches,
  loadsFile,
} from '../../../src/storage/job-start.js';
import { parseTokenDetails } from '../../../src/storage/token-api.js';
import { exportBody, tableCreateBody } from '../../../src/storage/storage-client.js';
import type { StorageJob } from '../../../src/storage/types.js';

const owner = { id: '578', name: 'P', region: 'us-east-1', fileStorageProvider: 'gcp' };

describe('timestamps', () => {
  it.each([
    ['2017-02-13T16:41:18+0100', '2017-02-13T16:41:18+01:00'],
    ['2017-02-13T16:41:18+02:00', '2017-02-13T16:41:18+02:00'],
    ['2017-02-13 23:36:10', '2017-02-13T23:36:10'],
    ['2024-02-14T21:46:25Z', '2024-02-14T21:46:25Z'],
  ])('%s → %s', (raw, expected) => {
    expect(normalizeTimestamp(raw)).toBe(expected);
  });
  it('reads offsets without a colon', () => {
    expect(timestampMs('2017-02-13T16:41:18+0100')).toBe(Date.parse('2017-02-13T15:41:18Z'));
  });
  it('reads a time with a zone as an instant and one without as a wall-clock time, never local', () => {
    expect(parseStorageTime('2017-02-13T16:41:18+0100')).toEqual({
      ms: Date.parse('2017-02-13T15:41:18Z'),
      zoned: true,
      text: '2017-02-13T16:41:18+01:00',
    });
    expect(parseStorageTime('2024-02-14T21:46:25Z')?.zoned).toBe(true);
    expect(parseStorageTime('2017-02-13 23:36:10')).toEqual({
      ms: Date.parse('2017-02-13T23:36:10Z'),
      zoned: false,
      text: '2017-02-13T23:36:10',
    });
    for (const unreadable of [undefined, null, '', 'yesterday', '2017-02-13']) {
      expect(parseStorageTime(unreadable), String(unreadable)).toBeUndefined();
    }
  });
});

describe("the server's zone from a zone-less time and its answer's Date", () => {
  const dateMs = Date.parse('2025-06-01T12:00:07Z');
  it('rounds the difference to a quarter hour; a zoned time or an offset beyond any zone gives none', () => {
    const wall = (text: string) => parseStorageTime(text) ?? instantTime(0);
    expect(serverZoneOffsetMs(wall('2025-06-01 14:00:03'), dateMs)).toBe(2 * 3_600_000);
    expect(serverZoneOffsetMs(wall('2025-06-01 17:30:05'), dateMs)).toBe(5.5 * 3_600_000);
    expect(serverZoneOffsetMs(wall('2025-06-01T14:00:03+0200'), dateMs)).toBeUndefined();
    expect(serverZoneOffsetMs(wall('2025-06-03 14:00:03'), dateMs)).toBeUndefined();
  });

  it('reads a zone-less time at its earliest with that zone, an hour earlier for daylight saving', () => {
    const time = parseStorageTime('2025-06-01 14:00:00') ?? instantTime(0);
    expect(new Date(earliestWithOffset(time, 2 * 3_600_000).ms).toISOString()).toBe(
      '2025-06-01T11:00:00.000Z',
    );
    expect(earliestWithOffset(time, undefined)).toBe(time);
  });
});

/** Odd shapes of the fields only warned about, which the run and the token commands read as none. */
const ODD_WARNING_ONLY_FIELDS = [
  { componentAccess: null, canCreateJobs: null },
  { componentAccess: {}, canManageDevBranches: 'yes' },
  { componentAccess: [1, 2], canReadAllProjectEvents: 1 },
  { canPurgeTrash: null, canManageProtectedDefaultBranch: 'yes' },
];

describe('token', () => {
  it('accepts [] bucketPermissions, string owner id and a missing token field', () => {
    const token = parseTokenInfo({ id: 67319, bucketPermissions: [], owner }, 'verify');
    expect(token).toMatchObject({ id: '67319', bucketPermissions: {}, isMasterToken: false });
    expect(token.owner.id).toBe(578);
  });
  it('keeps a permission map', () => {
    const token = parseTokenInfo(
      {
        id: '1',
        bucketPermissions: { 'in.c-crm': 'read' },
        owner,
        expires: '2025-01-01T00:00:00+0100',
      },
      'verify',
    );
    expect(token.bucketPermissions).toEqual({ 'in.c-crm': 'read' });
    expect(token.expires).toBe('2025-01-01T00:00:00+01:00');
  });
  it('reads componentAccess and the unneeded privilege flags; absent (older stacks) means none', () => {
    expect(
      parseTokenInfo(
        {
          id: '1',
          owner,
          componentAccess: ['keboola.ex-db-mysql'],
          canCreateJobs: true,
          canManageDevBranches: true,
          canReadAllProjectEvents: true,
        },
        'verify',
      ),
    ).toMatchObject({
      componentAccess: ['keboola.ex-db-mysql'],
      canCreateJobs: true,
      canManageDevBranches: true,
      canReadAllProjectEvents: true,
    });
    expect(parseTokenInfo({ id: '1', owner }, 'verify')).toMatchObject({
      componentAccess: [],
      canCreateJobs: false,
      canManageDevBranches: false,
      canReadAllProjectEvents: false,
    });
  });
  it.each(ODD_WARNING_ONLY_FIELDS)(
    'takes an odd shape of a warning-only field %j as none, never a failure',
    (odd) => {
      expect(parseTokenInfo({ id: '1', owner, ...odd }, 'verify')).toMatchObject({
        componentAccess: [],
        canCreateJobs: false,
        canManageDevBranches: false,
        canReadAllProjectEvents: false,
        canPurgeTrash: false,
        canManageProtectedDefaultBranch: false,
      });
    },
  );
  it.each(ODD_WARNING_ONLY_FIELDS)(
    'token commands read an odd warning-only field %j as none too, as the run does',
    (odd) => {
      const details = parseTokenDetails({ id: '1', ...odd }, 'verify');
      expect(details.componentAccess).toEqual([]);
      expect(details.flags).toMatchObject({
        canCreateJobs: false,
        canManageDevBranches: false,
        canReadAllProjectEvents: false,
        canPurgeTrash: false,
        canManageProtectedDefaultBranch: false,
      });
    },
  );
  it('token commands still refuse an odd shape of a privilege the rules judge', () => {
    expect(() => parseTokenDetails({ id: '1', canManageTokens: 'yes' }, 'verify')).toThrow(
      StorageResponseError,
    );
  });
  it('names the field paths, never the values', () => {
    expect(() =>
      parseTokenInfo(
        { id: '1', owner: { ...owner, fileStorageProvider: 'secret-x' } },
        'GET verify',
      ),
    ).toThrow(StorageResponseError);
    try {
      parseTokenInfo(
        { id: '1', owner: { ...owner, fileStorageProvider: 'secret-x' } },
        'GET verify',
      );
    } catch (error) {
      expect((error as Error).message).toContain('owner.fileStorageProvider');
      expect((error as Error).message).not.toContain('secret-x');
    }
  });
});

describe('table', () => {
  it.each([[undefined], [null], [[]], [{}]])(
    'column definition %j on an untyped table',
    (definition) => {
      const table = parseTable(
        {
          id: 'in.c-a.t',
          name: 't',
          columns: ['id'],
          columnMetadata: [],
          definition: { primaryKeysNames: [], columns: [{ name: 'id', definition }] },
        },
        'x',
      );
      expect(table.columnMetadata).toEqual({});
      expect(table.definition?.columns[0]).toEqual({ name: 'id' });
    },
  );

  it('reads created as the text sent, and as null when missing or not text: never a failure', () => {
    const base = { id: 'in.c-a.t', name: 't', bucket: { id: 'in.c-a' } };
    const created = '2023-06-23T20:41:07+0200';
    expect(parseTable({ ...base, created }, 'table').created).toBe(created);
    expect(parseTable(base, 'table').created).toBeNull();
    expect(parseTable({ ...base, created: 1_700_000_000 }, 'table').created).toBeNull();
    expect(parseTableList([base], 'list', 'in.c-a')[0]?.created).toBeNull();
  });

  it('parses a typed definition and metadata', () => {
    const table = parseTable(
      {
        id: 'in.c-a.t',
        name: 't',
        isTyped: true,
        primaryKey: ['id'],
        rowsCount: 3,
        bucket: { id: 'in.c-a' },
        lastImportDate: null,
        metadata: [
          {
            id: 5,
            key: 'k',
            value: 'v',
            provider: 'system',
            timestamp: '2024-08-12T14:36:08+0200',
          },
        ],
        columnMetadata: {
          id: [{ id: '1', key: 'KBC.datatype.basetype', value: 'INTEGER', provider: 'x' }],
        },
        definition: {
          primaryKeysNames: ['id'],
          columns: [
            {
              name: 'id',
              definition: { type: 'NUMBER', nullable: false, length: '38,0' },
              basetype: 'NUMERIC',
            },
          ],
        },
      },
      'x',
    );
    expect(table.definition?.columns[0]).toEqual({
      name: 'id',
      definition: { type: 'NUMBER', nullable: false, length: '38,0' },
      basetype: 'NUMERIC',
    });
    expect(table.metadata[0]).toEqual({
      id: '5',
      key: 'k',
      value: 'v',
      provider: 'system',
      timestamp: '2024-08-12T14:36:08+02:00',
    });
    expect(table.columnMetadata['id']).toHaveLength(1);
  });
});

describe('job', () => {
  const base = {
    id: '22',
    status: 'success',
    operationName: 'tableExport',
    createdTime: '2024-02-13T12:56:57+0100',
  };
  it.each([[[]], [null], [undefined]])('results %j → null', (results) => {
    expect(parseJob({ ...base, results }, 'x').results).toBeNull();
  });
  it('keeps results and error, int id from a string', () => {
    const job = parseJob(
      {
        ...base,
        status: 'error',
        results: { file: { id: 1 } },
        error: { code: 'c', message: 'm', exceptionId: null },
      },
      'x',
    );
    expect(job).toMatchObject({
      id: 22,
      results: { file: { id: 1 } },
      error: { code: 'c', message: 'm' },
    });
    expect(job.createdTime).toBe('2024-02-13T12:56:57+01:00');
  });
});

describe('file detail', () => {
  it('accepts a GCS file', () => {
    const file = parseFileDetail(
      {
        id: '9',
        name: 'f.csv.gz',
        isSliced: true,
        provider: 'gcp',
        region: 'europe-west3',
        url: 'https://x',
        gcsPath: { bucket: 'b', key: 'k' },
        gcsCredentials: {
          access_token: 'ya29.x',
          expires_in: 3599,
          token_type: 'Bearer',
          projectId: 'p',
        },
      },
      'x',
    );
    expect(file).toMatchObject({ id: 9, isSliced: true, gcsPath: { bucket: 'b', key: 'k' } });
  });
});

describe('request bodies and job matching', () => {
  it('builds the export and create bodies', () => {
    expect(exportBody({ columns: ['b', 'a'] })).toEqual({ columns: 'b,a', gzip: true });
    expect(tableCreateBody({ name: 't', dataFileId: 1, primaryKey: [] })).toEqual({
      name: 't',
      dataFileId: 1,
      primaryKey: '',
    });
  });

  const attemptMs = Date.parse('2024-01-01T12:00:00Z');
  const job: StorageJob = {
    id: 1,
    status: 'waiting',
    operationName: 'tableImport',
    tableId: 'out.c-a.t',
    createdTime: '2024-01-01T12:00:01+00:00',
    startTime: null,
    endTime: null,
    runId: 'run',
    results: null,
  };
  const match = { operationName: 'tableImport', tableId: 'out.c-a.t' };
  it.each<[string, Partial<StorageJob>, boolean]>([
    ['same job', {}, true],
    ['other run', { runId: 'x' }, false],
    ['other operation', { operationName: 'tableExport' }, false],
    ['other table', { tableId: 'out.c-a.u' }, false],
    ['server clock 4 min behind', { createdTime: '2024-01-01T11:56:00+00:00' }, true],
    ['an hour earlier', { createdTime: '2024-01-01T11:00:00+00:00' }, false],
  ])('%s', (_name, overrides, expected) => {
    expect(jobMatches({ ...job, ...overrides }, match, 'run', attemptMs)).toBe(expected);
  });
  it('skips jobs this client already has', () => {
    expect(jobMatches(job, match, 'run', attemptMs, new Set([1]))).toBe(false);
  });

  describe('an export is matched by its echoed columns and window too', () => {
    const sent = {
      columns: ['id', 'name'],
      changedSince: 1_700_000_000,
      changedUntil: 1_700_000_300,
    };
    const echo = (exported: Record<string, unknown>) => ({
      ...job,
      operationName: 'tableExport',
      operationParams: {
        export: {
          columns: ['id', 'name'],
          changedSince: 1_700_000_000,
          changedUntil: 1_700_000_300,
          ...exported,
        },
      },
    });
    const exportMatch = {
      operationName: 'tableExport',
      tableId: 'out.c-a.t',
      params: exportParamsMatch(sent),
    };
    it.each<[string, Record<string, unknown>, boolean]>([
      ['the same export', {}, true],
      [
        'the window echoed as strings',
        { changedSince: '1700000000', changedUntil: '1700000300' },
        true,
      ],
      ['the window echoed as dates', { changedSince: '2023-11-14T22:13:20+00:00' }, true],
      ['another row’s full export of the table', { changedSince: null, changedUntil: null }, false],
      ['other columns', { columns: ['id'] }, false],
      ['the columns in another order', { columns: ['name', 'id'] }, false],
      ['another window', { changedSince: 1_699_999_000 }, false],
    ])('%s', (_name, exported, expected) => {
      expect(jobMatches(echo(exported), exportMatch, 'run', attemptMs)).toBe(expected);
    });
    it('a job that echoes no export parameters is not taken', () => {
      expect(
        jobMatches({ ...job, operationName: 'tableExport' }, exportMatch, 'run', attemptMs),
      ).toBe(false);
    });
    it('an export without a window matches only a job without one', () => {
      const full = { ...exportMatch, params: exportParamsMatch({ columns: ['id', 'name'] }) };
      expect(
        jobMatches(echo({ changedSince: null, changedUntil: null }), full, 'run', attemptMs),
      ).toBe(true);
      expect(jobMatches(echo({}), full, 'run', attemptMs)).toBe(false);
    });
  });

  describe('an import and a table creation are matched by the file they load', () => {
    const loading = (fileId: unknown, overrides: Partial<StorageJob> = {}): StorageJob => ({
      ...job,
      operationParams: { source: { type: 'file', fileId } },
      ...overrides,
    });
    const importMatch = { ...match, params: loadsFile(7) };
    it.each<[string, StorageJob, boolean]>([
      ['the import of this file', loading(7), true],
      ['the file id as a digit string', loading('7'), true],
      ['an earlier import of the table under the same run id', loading(6), false],
      ['an import that names no file', { ...job, operationParams: {} }, false],
    ])('import: %s', (_name, listed, expected) => {
      expect(jobMatches(listed, importMatch, 'run', attemptMs)).toBe(expected);
    });
    const createMatch = {
      operationName: 'tableCreate',
      tableId: 'out.c-a.t',
      withoutTableId: loadsFile(9),
    };
    it.each<[string, StorageJob, boolean]>([
      ['listed without a table id, as the API does', loading('9', { tableId: null }), true],
      ['listed with its table id (an id is created once)', loading(8), true],
      ['another creation without a table id', loading(8, { tableId: null }), false],
    ])('table creation: %s', (_name, listed, expected) => {
      expect(
        jobMatches({ ...listed, operationName: 'tableCreate' }, createMatch, 'run', attemptMs),
      ).toBe(expected);
    });
    it('a table-definition job without a table id is matched by the name it creates', () => {
      const definitionMatch = {
        operationName: 'tableDefinitionCreate',
        tableId: 'out.c-a.t',
        withoutTableId: createsTableNamed('t'),
      };
      const listed = { ...job, operationName: 'tableDefinitionCreate', tableId: null };
      const named = (name: string) => ({ ...listed, operationParams: { name } });
      expect(jobMatches(named('t'), definitionMatch, 'run', attemptMs)).toBe(true);
      expect(jobMatches(named('u'), definitionMatch, 'run', attemptMs)).toBe(false);
      const byTableIdOnly = { operationName: 'tableDefinitionCreate', tableId: 'out.c-a.t' };
      expect(jobMatches(listed, byTableIdOnly, 'run', attemptMs)).toBe(false);
    });
  });
});
