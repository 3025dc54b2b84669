/**
 * The claim paths of DestinationSyncStore (docs/sync-record.md, Claims) that the emulator does not
 * reach: an answer that does not list the claim, an unreadable record, a commit while another run
 * holds the table, a claim grown too old, the deletion of lapsed claims, runs that share one run
 * id, and the search for an intent's job when Storage stamps metadata without a time zone. The
 * Storage client is an in-memory table's metadata and jobs list behind the StorageClient interface.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  InterruptedError,
  ServiceError,
  TableSkippedError,
  UserError,
  noteNotApplied,
} from '../../../src/errors.js';
import { DestinationSyncStore } from '../../../src/output/destination-sync.js';
import {
  CLAIM_KEY_PREFIX,
  PENDING_KEY,
  RECORD_KEY,
  RECORD_PROVIDER,
  type PendingImport,
} from '../../../src/state/sync-record.js';
import type {
  MetadataAnswer,
  MetadataItem,
  MetadataWrite,
  StorageClient,
  StorageJob,
  TableDetail,
} from '../../../src/storage/types.js';

const TABLE = 'in.c-copy.orders';
const LEASE_MS = 30 * 60_000;
const source = { stack: 'https://connection.keboola.com', projectId: 7, tableId: 'in.c-a.orders' };
const pending: PendingImport = { source, fileId: 42, runId: 'me', mode: 'append', rows: 3 };

/** One table's metadata, stamped by a settable server clock; records the deletes. */
class FakeTable {
  items: MetadataItem[] = [];
  serverMs = Date.parse('2025-06-01T12:00:00Z');
  deleted: string[] = [];
  #nextId = 1;
  /** When set, answers to metadata writes leave out the items with these keys. */
  hideKeys: (key: string) => boolean = () => false;
  /** How the server writes a metadata item's `timestamp`. */
  stamp: (ms: number) => string = (ms) => new Date(ms).toISOString();
  /** The destination project's jobs, newest first. */
  jobs: StorageJob[] = [];
  readonly runId: string;

  constructor(runId = 'me') {
    this.runId = runId;
  }
  /** How a write of the record or the intent (not of a claim) ends: answered, or failed. */
  recordWrite: 'answered' | 'answeredAfterTimeout' | 'failed' | 'refused' = 'answered';
  /** Whether answers to metadata writes carry a `Date` header (`serverMs`). */
  sendsDate = false;

  put(key: string, value: string, atMs = this.serverMs): void {
    this.items = this.items.filter((m) => m.key !== key);
    const timestamp = this.stamp(atMs);
    this.items.push({
      id: String(this.#nextId++),
      key,
      value,
      provider: RECORD_PROVIDER,
      timestamp,
    });
  }

  client(): StorageClient {
    const client: Partial<StorageClient> = {
      runId: this.runId,
      findTable: () => Promise.resolve({ metadata: [...this.items] } as unknown as TableDetail),
      listJobs: (limit = 100, offset = 0) =>
        Promise.resolve(this.jobs.slice(offset, offset + limit)),
      setTableMetadata: (_tableId: string, write: MetadataWrite): Promise<MetadataAnswer> => {
        const claim = write.metadata.every((item) => item.key.startsWith(CLAIM_KEY_PREFIX));
        if (!claim && this.recordWrite === 'failed') {
          return Promise.reject(new ServiceError('POST metadata did not finish within 120 s'));
        }
        if (!claim && this.recordWrite === 'refused') {
          // As the client notes a write whose every attempt was refused or never reached.
          const refused = new ServiceError('POST metadata answered 400');
          noteNotApplied(refused);
          return Promise.reject(refused);
        }
        for (const item of write.metadata) this.put(item.key, item.value);
        const metadata = this.items.filter((m) => !this.hideKeys(m.key));
        const earlierAttemptMayLand = !claim && this.recordWrite === 'answeredAfterTimeout';
        return Promise.resolve({
          metadata,
          serverTimeMs: this.serverMs,
          ...(this.sendsDate && { dateHeaderMs: this.serverMs }),
          earlierAttemptMayLand,
        });
      },
      deleteTableMetadata: (_tableId: string, metadataId: string): Promise<void> => {
        this.deleted.push(metadataId);
        this.items = this.items.filter((m) => m.id !== metadataId);
        return Promise.resolve();
      },
    };
    return client as StorageClient;
  }

  claimKeys(): string[] {
    return this.items.map((m) => m.key).filter((key) => key.startsWith(CLAIM_KEY_PREFIX));
  }
}

function storeOver(
  table: FakeTable,
  clock = { ms: 0 },
  signal = new AbortController().signal,
  idPrefix = 'c',
) {
  let ids = 0;
  return new DestinationSyncStore({
    client: table.client(),
    logger: pino({ level: 'silent' }),
    signal,
    claimLeaseMs: LEASE_MS,
    nowMs: () => clock.ms,
    newClaimId: () => `${idPrefix}${String(++ids).padStart(15, '0')}`,
  });
}

describe('DestinationSyncStore claims', () => {
  it('refuses to go on when the answer to its claim does not list the claim', async () => {
    const table = new FakeTable();
    table.hideKeys = (key) => key.startsWith(CLAIM_KEY_PREFIX);
    await expect(storeOver(table).claim(TABLE, '|')).rejects.toThrow(ServiceError);
  });

  it('deletes its claim again when the answer shows a record it cannot read (exit 1, no claim left)', async () => {
    const table = new FakeTable();
    table.put(RECORD_KEY, 'not json');
    await expect(storeOver(table).claim(TABLE, '|')).rejects.toThrow(UserError);
    expect(table.claimKeys()).toEqual([]);
  });

  it('deletes claims past the lease and goes on; a live claim of another run skips the table', async () => {
    const table = new FakeTable();
    table.put(
      `${CLAIM_KEY_PREFIX}dead`,
      '{"runId":"dead","purpose":"import"}',
      table.serverMs - LEASE_MS - 1_000,
    );
    const store = storeOver(table);
    const held = await store.claim(TABLE, '|');
    expect(table.claimKeys()).toEqual([held.key]);
    await store.release(TABLE, held);
    table.put(
      `${CLAIM_KEY_PREFIX}live`,
      '{"runId":"other","purpose":"commit"}',
      table.serverMs - 60_000,
    );
    await expect(store.claim(TABLE, '|')).rejects.toThrow(
      /run "other" holds a claim on it .*kbc-table-sync\.claim\.live/,
    );
    expect(table.claimKeys(), 'its own claim deleted again').toEqual([`${CLAIM_KEY_PREFIX}live`]);
  });

  it('writes no intent under a claim older than a third of its lease', async () => {
    const table = new FakeTable();
    const clock = { ms: 0 };
    const store = storeOver(table, clock);
    const held = await store.claim(TABLE, '|');
    clock.ms = LEASE_MS / 3 + 1;
    await expect(store.writeIntent(TABLE, held, pending)).rejects.toThrow(TableSkippedError);
    expect(table.items.some((m) => m.key === PENDING_KEY)).toBe(false);
  });

  it('leaves its record to the next run while another run holds the table', async () => {
    const table = new FakeTable();
    table.put(PENDING_KEY, JSON.stringify(pending));
    table.put(`${CLAIM_KEY_PREFIX}other`, '{"runId":"other","purpose":"settle"}');
    const committed = await storeOver(table).commitOwn(TABLE, pending, 900);
    expect(committed).toBe(false);
    expect(table.items.some((m) => m.key === RECORD_KEY)).toBe(false);
    expect(table.claimKeys()).toEqual([`${CLAIM_KEY_PREFIX}other`]);
  });

  it('commits under its claim when the intent is still its own, in one write with the intent settled', async () => {
    const table = new FakeTable();
    table.put(PENDING_KEY, JSON.stringify({ ...pending, nextWatermark: 1_700_000_000 }));
    expect(await storeOver(table).commitOwn(TABLE, pending, 900)).toBe(true);
    const record = table.items.find((m) => m.key === RECORD_KEY);
    expect(JSON.parse(record?.value ?? '{}')).toMatchObject({ runId: 'me', importJobId: 900 });
    expect(table.items.find((m) => m.key === PENDING_KEY)?.value).toBe('none');
    expect(table.claimKeys()).toEqual([]);
  });

  it('keeps its claim when a write under it failed: the write may still land', async () => {
    const table = new FakeTable();
    table.recordWrite = 'failed';
    const store = storeOver(table);
    const held = await store.claim(TABLE, '|');
    await expect(store.writeIntent(TABLE, held, pending)).rejects.toThrow(ServiceError);
    await store.release(TABLE, held);
    expect(table.claimKeys()).toEqual([held.key]);
  });

  it('deletes its claim when a write under it was refused: nothing of it can land', async () => {
    const table = new FakeTable();
    table.recordWrite = 'refused';
    const store = storeOver(table);
    const held = await store.claim(TABLE, '|');
    await expect(store.writeIntent(TABLE, held, pending)).rejects.toThrow(ServiceError);
    await store.release(TABLE, held);
    expect(table.claimKeys()).toEqual([]);
  });

  it('a claim it kept holds the table against other runs, not against its own commit', async () => {
    const table = new FakeTable();
    table.recordWrite = 'answeredAfterTimeout';
    const store = storeOver(table);
    const held = await store.claim(TABLE, '|');
    await store.writeIntent(TABLE, held, pending);
    await store.release(TABLE, held);
    expect(table.claimKeys()).toEqual([held.key]);
    table.recordWrite = 'answered';
    expect(await store.commitOwn(TABLE, pending, 900)).toBe(true);
    expect(JSON.parse(table.items.find((m) => m.key === RECORD_KEY)?.value ?? '{}')).toMatchObject({
      importJobId: 900,
    });
    // Another run still skips the table while the kept claim's lease runs.
    const other = new FakeTable('other');
    other.items = table.items;
    const valueOf = (key: string) => table.items.find((m) => m.key === key)?.value ?? '';
    const revision = `${valueOf(RECORD_KEY)}|${valueOf(PENDING_KEY)}`;
    await expect(
      storeOver(other, { ms: 0 }, undefined, 'd').claim(TABLE, revision),
    ).rejects.toThrow(/run "me" holds a claim on it/);
  });

  it('keeps its claim when a write was answered only after an attempt of it timed out', async () => {
    const table = new FakeTable();
    table.put(PENDING_KEY, JSON.stringify({ ...pending, nextWatermark: 1_700_000_000 }));
    table.recordWrite = 'answeredAfterTimeout';
    expect(await storeOver(table).commitOwn(TABLE, pending, 900)).toBe(true);
    expect(table.claimKeys()).toHaveLength(1);
  });

  it('sends no write once the run is stopped, and deletes its claim', async () => {
    const table = new FakeTable();
    const stop = new AbortController();
    const store = storeOver(table, { ms: 0 }, stop.signal);
    const held = await store.claim(TABLE, '|');
    stop.abort('SIGTERM');
    await expect(store.writeIntent(TABLE, held, pending)).rejects.toThrow(InterruptedError);
    await store.release(TABLE, held);
    expect(table.items.some((m) => m.key === PENDING_KEY)).toBe(false);
    expect(table.claimKeys()).toEqual([]);
  });
});

/** A job of the destination project, created at `createdMs` (stamped `+0000`, as jobs carry a zone). */
function jobAt(id: number, createdMs: number, overrides: Partial<StorageJob> = {}): StorageJob {
  return {
    id,
    status: 'success',
    operationName: 'tableExport',
    tableId: 'in.c-copy.other',
    createdTime: new Date(createdMs).toISOString().replace('.000Z', '+0000'),
    startTime: null,
    endTime: null,
    runId: 'someone',
    results: null,
    ...overrides,
  };
}

function importJobOf(id: number, createdMs: number, intent: PendingImport): StorageJob {
  return jobAt(id, createdMs, {
    operationName: 'tableImport',
    tableId: TABLE,
    runId: intent.runId,
    operationParams: { source: { type: 'file', fileId: intent.fileId } },
  });
}

/** A server in UTC+02:00 that stamps metadata with its wall clock and no zone: `2025-06-01 14:00:00`. */
const zonelessAtPlusTwo = (ms: number) =>
  new Date(ms + 2 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');

describe('DestinationSyncStore: settling an intent whose job contradicts it', () => {
  it('drops the intent of a full load whose job reports more rows than it loaded, instead of promoting it', async () => {
    const table = new FakeTable();
    const full: PendingImport = { ...pending, mode: 'full', rows: 3 };
    const writtenMs = table.serverMs;
    table.put(PENDING_KEY, JSON.stringify(full), writtenMs);
    table.jobs = [{ ...importJobOf(7, writtenMs + 1_000, full), results: { totalRowsCount: 4 } }];
    table.serverMs = writtenMs + 60_000;
    await storeOver(table).open(TABLE, source);
    expect(
      table.items.find((m) => m.key === RECORD_KEY),
      'not promoted',
    ).toBeUndefined();
    expect(table.items.find((m) => m.key === PENDING_KEY)?.value).toBe('none');
  });

  it('promotes the intent of a full load whose job reports the rows it loaded', async () => {
    const table = new FakeTable();
    const full: PendingImport = { ...pending, mode: 'full', rows: 3 };
    const writtenMs = table.serverMs;
    table.put(PENDING_KEY, JSON.stringify(full), writtenMs);
    table.jobs = [{ ...importJobOf(7, writtenMs + 1_000, full), results: { totalRowsCount: 3 } }];
    table.serverMs = writtenMs + 60_000;
    await storeOver(table).open(TABLE, source);
    const record = table.items.find((m) => m.key === RECORD_KEY);
    expect(JSON.parse(record?.value ?? '{}')).toMatchObject({ importJobId: 7 });
  });
});

describe("DestinationSyncStore: the intent's job when metadata timestamps have no time zone", () => {
  it('finds the import job behind a page of newer jobs instead of dropping the intent (window imported once)', async () => {
    const table = new FakeTable();
    table.stamp = zonelessAtPlusTwo;
    const writtenMs = table.serverMs;
    table.put(PENDING_KEY, JSON.stringify(pending), writtenMs);
    // The import started a second after its intent; 150 jobs of other work came in the next hour.
    const newer = Array.from({ length: 150 }, (_, i) =>
      jobAt(1_000 - i, writtenMs + 3_600_000 - i * 1_000),
    );
    table.jobs = [...newer, importJobOf(7, writtenMs + 1_000, pending)];
    table.serverMs = writtenMs + 2 * 3_600_000;
    await storeOver(table).open(TABLE, source);
    const record = table.items.find((m) => m.key === RECORD_KEY);
    expect(JSON.parse(record?.value ?? '{}'), 'promoted, not dropped').toMatchObject({
      importJobId: 7,
      fileId: pending.fileId,
    });
    expect(table.items.find((m) => m.key === PENDING_KEY)?.value).toBe('none');
  });

  it('keeps the intent and fails the table when the pages read do not reach back to the intent', async () => {
    const table = new FakeTable();
    table.stamp = zonelessAtPlusTwo;
    const writtenMs = table.serverMs;
    table.put(PENDING_KEY, JSON.stringify(pending), writtenMs);
    // 2000 jobs within 14 hours of the intent's wall-clock time, none of them its import: by the
    // server's real zone they are older than the intent, but that zone is unknown.
    table.jobs = Array.from({ length: 2_000 }, (_, i) =>
      jobAt(5_000 - i, writtenMs - 60_000 - i * 1_000),
    );
    const opened = storeOver(table).open(TABLE, source);
    await expect(opened).rejects.toThrow(
      /is not among the 2000 newest jobs of the destination project; its outcome is unknown/,
    );
    // The service's state, not a bug: exit 2 without a stack trace.
    await expect(opened).rejects.toBeInstanceOf(ServiceError);
    expect(table.items.find((m) => m.key === PENDING_KEY)?.value).toBe(JSON.stringify(pending));
  });
});

describe("DestinationSyncStore: the server's zone learnt from its claim answer", () => {
  it('ends the search an hour before a zone-less intent, not 14: a busy project drops an intent that never started', async () => {
    const table = new FakeTable();
    table.stamp = zonelessAtPlusTwo;
    table.sendsDate = true;
    const writtenMs = table.serverMs;
    table.put(PENDING_KEY, JSON.stringify(pending), writtenMs);
    // 2000 jobs, one every 3 s before the intent, none its import: with the zone known (+02:00
    // from the claim's time against its Date), the 14th page is surely older than the intent.
    table.jobs = Array.from({ length: 2_000 }, (_, i) =>
      jobAt(5_000 - i, writtenMs - 60_000 - i * 3_000),
    );
    table.serverMs = writtenMs + 10 * 60_000;
    await storeOver(table).open(TABLE, source);
    expect(table.items.find((m) => m.key === PENDING_KEY)?.value, 'dropped').toBe('none');
    expect(table.items.some((m) => m.key === RECORD_KEY)).toBe(false);
  });

  it('still finds a job created within the hour a daylight-saving change may shift', async () => {
    const table = new FakeTable();
    // The intent was stamped at +03:00 (summer time); the server is at +02:00 now.
    table.stamp = (ms) => zonelessAtPlusTwo(ms + 3_600_000);
    table.sendsDate = true;
    const writtenMs = table.serverMs;
    table.put(PENDING_KEY, JSON.stringify(pending), writtenMs);
    table.stamp = zonelessAtPlusTwo;
    // Read with today's +02:00 alone the intent would seem an hour later than it was, and a full
    // page of jobs from the minutes after it would end the search before its import.
    const after = Array.from({ length: 100 }, (_, i) =>
      jobAt(9_000 - i, writtenMs + 101_000 - i * 1_000),
    );
    table.jobs = [...after, importJobOf(7, writtenMs + 1_000, pending)];
    table.serverMs = writtenMs + 10 * 60_000;
    await storeOver(table).open(TABLE, source);
    expect(JSON.parse(table.items.find((m) => m.key === RECORD_KEY)?.value ?? '{}')).toMatchObject({
      importJobId: 7,
    });
  });
});

describe('DestinationSyncStore: runs that share one run id (a fixed KBC_RUNID)', () => {
  it("takes only the import claim its found job was started under as done, not another live run's claim", async () => {
    const table = new FakeTable('shared');
    const earlier: PendingImport = { ...pending, runId: 'shared' };
    const earlierClaim = `${CLAIM_KEY_PREFIX}aaaaaaaaaaaaaaaa`;
    // A run killed after its import started: its intent names its claim, which is still there.
    table.put(earlierClaim, '{"runId":"shared","purpose":"import"}');
    table.put(PENDING_KEY, JSON.stringify({ ...earlier, claimKey: earlierClaim }));
    table.jobs = [importJobOf(7, table.serverMs + 1_000, earlier)];
    const store = storeOver(table);
    const opened = await store.open(TABLE, source);
    expect(JSON.parse(table.items.find((m) => m.key === RECORD_KEY)?.value ?? '{}')).toMatchObject({
      importJobId: 7,
    });
    // Another process with the same run id claims the table for its own import meanwhile.
    const otherClaim = `${CLAIM_KEY_PREFIX}bbbbbbbbbbbbbbbb`;
    table.put(otherClaim, '{"runId":"shared","purpose":"import"}');
    await expect(store.claim(TABLE, opened.sync.revision)).rejects.toThrow(
      /run "shared" holds a claim on it .*bbbbbbbbbbbbbbbb/,
    );
    // The found job's claim was done and is deleted; the other process's claim stays.
    expect(table.claimKeys()).toEqual([otherClaim]);
  });
});
