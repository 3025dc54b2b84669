import { describe, expect, it } from 'vitest';
import {
  CLAIM_KEY_PREFIX,
  PENDING_KEY,
  RECORD_KEY,
  RECORD_PROVIDER,
  checkSameSource,
  claimsOfOthers,
  findImportJob,
  promote,
  readDestinationSync,
  type PendingImport,
} from '../../../src/state/sync-record.js';
import type { StorageJob } from '../../../src/storage/types.js';

const source = { stack: 'https://connection.keboola.com', projectId: 7, tableId: 'in.c-a.orders' };
const pending: PendingImport = {
  source,
  fileId: 42,
  runId: 'run-1',
  mode: 'append',
  rows: 3,
  since: 100,
  until: 200,
  nextWatermark: 200,
};
const item = (key: string, value: string, provider = RECORD_PROVIDER) => ({
  key,
  value,
  provider,
  timestamp: '2025-03-01T00:00:00+01:00',
});

function job(overrides: Partial<StorageJob>): StorageJob {
  return {
    id: 1,
    status: 'success',
    operationName: 'tableImport',
    tableId: 'in.c-copy.orders',
    createdTime: '2025-03-01T00:00:00+00:00',
    startTime: null,
    endTime: null,
    runId: 'run-1',
    results: null,
    operationParams: { source: { type: 'file', fileId: 42 } },
    ...overrides,
  };
}

describe('readDestinationSync', () => {
  it('reads the record and a pending import of our provider only', () => {
    const record = { source, watermark: 100, mode: 'append', runId: 'run-0' };
    const sync = readDestinationSync('in.c-copy.orders', [
      item(RECORD_KEY, JSON.stringify(record)),
      item(PENDING_KEY, JSON.stringify(pending)),
      item(RECORD_KEY, 'not ours', 'user'),
    ]);
    expect(sync.record).toEqual(record);
    expect(sync.pending).toEqual(pending);
    expect(sync.pendingWrittenMs).toBe(Date.parse('2025-03-01T00:00:00+01:00'));
  });

  it('treats "none" as no pending import, and a table without items as empty', () => {
    expect(readDestinationSync('t', [item(PENDING_KEY, 'none')]).pending).toBeUndefined();
    expect(readDestinationSync('t', [])).toEqual({ revision: '|', claims: [] });
  });

  it('refuses an item it cannot read, naming the table and the key', () => {
    expect(() => readDestinationSync('in.c-copy.orders', [item(RECORD_KEY, '{"x":1}')])).toThrow(
      'The destination table "in.c-copy.orders" has a "kbc-table-sync.record" metadata item',
    );
  });
});

describe('checkSameSource', () => {
  it('refuses a record of another table, project or stack', () => {
    const sync = { record: { source, mode: 'append', runId: 'r' }, revision: '', claims: [] };
    expect(() => checkSameSource('d', sync, source)).not.toThrow();
    for (const other of [
      { ...source, tableId: 'in.c-a.other' },
      { ...source, projectId: 8 },
      { ...source, stack: 'https://connection.eu-central-1.keboola.com' },
    ]) {
      expect(() => checkSameSource('d', sync, other)).toThrow(/is synced from "in\.c-a\.orders"/);
    }
  });
});

describe('promote', () => {
  it('makes the window end the watermark, never moving it backwards', () => {
    expect(promote(undefined, pending, 9)).toMatchObject({ watermark: 200, importJobId: 9 });
    const later = { source, watermark: 300, mode: 'append', runId: 'r' };
    expect(promote(later, pending, 9).watermark).toBe(300);
    const fixedWindow: PendingImport = { source, fileId: 1, runId: 'r', mode: 'append', rows: 0 };
    expect(promote(later, fixedWindow, 9).watermark).toBe(300);
  });

  it('makes a full copy’s end the watermark even when earlier than the old one', () => {
    // A refresh of an append table bounded by a lag raised since the last run: the destination
    // now holds the rows up to 150 only, so the next window must start there, not at 300.
    const later = { source, watermark: 300, mode: 'append', runId: 'r' };
    const fullCopy: PendingImport = {
      source,
      fileId: 43,
      runId: 'run-2',
      mode: 'full',
      rows: 2,
      until: 150,
      nextWatermark: 150,
    };
    expect(promote(later, fullCopy, 9).watermark).toBe(150);
  });
});

describe('findImportJob', () => {
  it('matches operation, table, run id and operationParams.source.fileId', () => {
    const right = job({ id: 5 });
    const jobs = [
      job({ id: 1, runId: 'other' }),
      job({ id: 2, operationParams: { source: { type: 'file', fileId: 41 } } }),
      job({ id: 3, tableId: 'in.c-copy.x' }),
      job({ id: 4, operationName: 'tableExport' }),
      right,
    ];
    expect(findImportJob(jobs, 'in.c-copy.orders', pending)).toBe(right);
    expect(findImportJob(jobs.slice(0, 4), 'in.c-copy.orders', pending)).toBeUndefined();
  });
});

describe('claims', () => {
  const at = (iso: string, key: string, value: string, id = '1') => ({
    id,
    key,
    value,
    provider: RECORD_PROVIDER,
    timestamp: iso,
  });

  it('reads claims apart from the record and intent, which alone make the revision', () => {
    const claim = at('2025-03-01T00:00:00+01:00', `${CLAIM_KEY_PREFIX}ab`, '{"runId":"r-1"}', '9');
    const sync = readDestinationSync('d', [
      item(RECORD_KEY, JSON.stringify({ source, mode: 'append', runId: 'r' })),
      claim,
    ]);
    expect(sync.claims).toEqual([
      {
        key: `${CLAIM_KEY_PREFIX}ab`,
        metadataId: '9',
        runId: 'r-1',
        writtenMs: Date.parse('2025-02-28T23:00:00Z'),
      },
    ]);
    const without = readDestinationSync('d', [
      item(RECORD_KEY, JSON.stringify({ source, mode: 'append', runId: 'r' })),
    ]);
    expect(sync.revision).toBe(without.revision);
  });

  it('keeps a claim it cannot read as a claim of an unknown run (never ignored, never an error)', () => {
    const sync = readDestinationSync('d', [
      at('2025-03-01T00:00:00Z', `${CLAIM_KEY_PREFIX}x`, 'not json'),
    ]);
    expect(sync.claims).toHaveLength(1);
    expect(sync.claims[0]?.runId).toBeUndefined();
  });

  it("ages claims against the own claim of the same answer, whatever the timestamps' time zone", () => {
    // Storage may send "2025-03-01 10:00:00" without a zone: both sides read it the same way.
    const sync = readDestinationSync('d', [
      at('2025-03-01 10:00:00', `${CLAIM_KEY_PREFIX}dead`, '{"runId":"dead"}', '1'),
      at('2025-03-01 10:20:00', `${CLAIM_KEY_PREFIX}young`, '{"runId":"young"}', '2'),
      at('2025-03-01 10:45:00', `${CLAIM_KEY_PREFIX}own`, '{"runId":"me"}', '3'),
    ]);
    const own = sync.claims.find((c) => c.key.endsWith('own'));
    const seen = claimsOfOthers(sync.claims, own?.key, own?.writtenMs ?? Number.NaN, 30 * 60_000);
    expect(seen.stale.map((c) => c.runId)).toEqual(['dead']);
    expect(seen.live.map((c) => c.runId)).toEqual(['young']);
  });

  it("sorts other runs' claims by age against the lease; one without a timestamp stays live", () => {
    const nowMs = Date.parse('2025-03-01T01:00:00Z');
    const claims = [
      { key: 'own', writtenMs: nowMs - 10 },
      { key: 'young', writtenMs: nowMs - 60_000 },
      { key: 'old', writtenMs: nowMs - 3_600_000 },
      { key: 'unknown' },
    ];
    const seen = claimsOfOthers(claims, 'own', nowMs, 30 * 60_000);
    expect(seen.live.map((c) => c.key)).toEqual(['young', 'unknown']);
    expect(seen.stale.map((c) => c.key)).toEqual(['old']);
  });
});
