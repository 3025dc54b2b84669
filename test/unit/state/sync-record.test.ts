import { describe, expect, it } from 'vitest';
import {
  CLAIM_KEY_PREFIX,
  PENDING_KEY,
  RECORD_KEY,
  RECORD_PROVIDER,
  checkSameSource,
  claimsOfOthers,
  createdSurelyBefore,
  findImportJob,
  leastAgeMs,
  promote,
  readDestinationSync,
  stateFromRecord,
  type PendingImport,
} from '../../../src/state/sync-record.js';
import { instantTime, parseStorageTime, type StorageTime } from '../../../src/storage/parse.js';
import type { StorageJob } from '../../../src/storage/types.js';

/** A Storage time as the metadata answer would carry it. */
function time(text: string): StorageTime {
  const parsed = parseStorageTime(text);
  if (!parsed) throw new Error(`unreadable test time ${text}`);
  return parsed;
}

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
    expect(sync.pendingWritten).toMatchObject({
      ms: Date.parse('2025-03-01T00:00:00+01:00'),
      zoned: true,
    });
  });

  it('reads an intent timestamp without a time zone as a wall-clock time, never in the local zone', () => {
    const sync = readDestinationSync('in.c-copy.orders', [
      { ...item(PENDING_KEY, JSON.stringify(pending)), timestamp: '2025-04-01 00:00:20' },
    ]);
    expect(sync.pendingWritten).toEqual({
      ms: Date.parse('2025-04-01T00:00:20Z'),
      zoned: false,
      text: '2025-04-01T00:00:20',
    });
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
    expect(promote(later, fullCopy, 9)).not.toHaveProperty('openEnded');
  });

  it('marks a full load without an upper bound as open-ended, and a later bounded window clears it', () => {
    const openFull: PendingImport = {
      source,
      fileId: 44,
      runId: 'run-3',
      mode: 'full',
      rows: 3,
      nextWatermark: 200,
    };
    const promoted = promote(undefined, openFull, 9);
    expect(promoted.openEnded).toBe(true);
    expect(stateFromRecord(promoted).openEnded).toBe(true);
    expect(promote(promoted, pending, 10)).not.toHaveProperty('openEnded');
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
        written: {
          ms: Date.parse('2025-02-28T23:00:00Z'),
          zoned: true,
          text: '2025-03-01T00:00:00+01:00',
        },
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
    // Storage may send "2025-03-01 10:00:00" without a zone: both sides read it the same way, and
    // a daylight-saving change of the server's zone between them may add an hour to the difference.
    const sync = readDestinationSync('d', [
      at('2025-03-01 09:00:00', `${CLAIM_KEY_PREFIX}dead`, '{"runId":"dead"}', '1'),
      at('2025-03-01 10:00:00', `${CLAIM_KEY_PREFIX}shifted`, '{"runId":"shifted"}', '2'),
      at('2025-03-01 10:20:00', `${CLAIM_KEY_PREFIX}young`, '{"runId":"young"}', '3'),
      at('2025-03-01 10:45:00', `${CLAIM_KEY_PREFIX}own`, '{"runId":"me"}', '4'),
    ]);
    const own = sync.claims.find((c) => c.key.endsWith('own'));
    const seen = claimsOfOthers(sync.claims, own?.key, own?.written ?? instantTime(0), 30 * 60_000);
    expect(seen.stale.map((c) => c.runId)).toEqual(['dead']);
    expect(seen.live.map((c) => c.runId)).toEqual(['shifted', 'young']);
  });

  it('ages a claim without a time zone against an instant as if it were in any zone (±14 h)', () => {
    const lease = 30 * 60_000;
    const claim = time('2025-04-01 00:00:20');
    // By UTC it is 7 hours old; in a zone east of UTC it could be minutes old: still live.
    expect(leastAgeMs(claim, instantTime(Date.parse('2025-04-01T07:00:20Z')))).toBeLessThan(0);
    const lapsed = instantTime(Date.parse('2025-04-01T14:31:21Z'));
    expect(leastAgeMs(claim, lapsed)).toBeGreaterThan(lease);
    // And the other way round: a claim with a zone against a time without one.
    expect(leastAgeMs(time('2025-04-01T00:00:20+0000'), time('2025-04-01 07:00:20'))).toBeLessThan(
      0,
    );
  });

  it("sorts other runs' claims by age against the lease; one without a timestamp stays live", () => {
    const nowMs = Date.parse('2025-03-01T01:00:00Z');
    const claims = [
      { key: 'own', written: instantTime(nowMs - 10) },
      { key: 'young', written: instantTime(nowMs - 60_000) },
      { key: 'old', written: instantTime(nowMs - 3_600_000) },
      { key: 'unknown' },
    ];
    const seen = claimsOfOthers(claims, 'own', instantTime(nowMs), 30 * 60_000);
    expect(seen.live.map((c) => c.key)).toEqual(['young', 'unknown']);
    expect(seen.stale.map((c) => c.key)).toEqual(['old']);
  });
});

describe("createdSurelyBefore (where the search for an intent's job may stop)", () => {
  it('with an intent timestamp with a zone: 5 minutes before it', () => {
    const written = time('2025-04-01T00:00:20+0000');
    expect(createdSurelyBefore('2025-03-31T23:55:19+0000', written)).toBe(true);
    expect(createdSurelyBefore('2025-03-31T23:56:00+0000', written)).toBe(false);
    expect(createdSurelyBefore('2025-04-01T02:00:00+0200', written)).toBe(false);
  });

  it('with an intent timestamp without a zone: only before its earliest possible instant', () => {
    // Written at 00:00:20 in the server's zone, which Storage does not name (the auditor's case:
    // read in America/Los_Angeles it was 07:00:20Z, so jobs of the half hour after it looked older).
    const written = time('2025-04-01 00:00:20');
    expect(createdSurelyBefore('2025-04-01T00:30:00+0000', written)).toBe(false);
    expect(createdSurelyBefore('2025-03-31T12:00:00+0000', written)).toBe(false);
    expect(createdSurelyBefore('2025-03-31T09:55:00+0000', written)).toBe(true);
  });

  it('never stops the search without an intent timestamp or on a job time it cannot read', () => {
    expect(createdSurelyBefore('2020-01-01T00:00:00+0000', undefined)).toBe(false);
    expect(createdSurelyBefore('yesterday', time('2025-04-01T00:00:20+0000'))).toBe(false);
    // A job time without a zone is taken at its latest.
    expect(createdSurelyBefore('2025-03-31 23:00:00', time('2025-04-01T00:00:20+0000'))).toBe(
      false,
    );
  });
});
