/**
 * The claim paths of DestinationSyncStore (docs/sync-record.md, Claims) that the emulator does not
 * reach: an answer that does not list the claim, an unreadable record, a commit while another run
 * holds the table, a claim grown too old, and the deletion of lapsed claims. The Storage client is
 * an in-memory table's metadata behind the StorageClient interface.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ServiceError, TableSkippedError, UserError } from '../../../src/errors.js';
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

  put(key: string, value: string, atMs = this.serverMs): void {
    this.items = this.items.filter((m) => m.key !== key);
    const timestamp = new Date(atMs).toISOString();
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
      runId: 'me',
      setTableMetadata: (_tableId: string, write: MetadataWrite): Promise<MetadataAnswer> => {
        for (const item of write.metadata) this.put(item.key, item.value);
        const metadata = this.items.filter((m) => !this.hideKeys(m.key));
        return Promise.resolve({ metadata, serverTimeMs: this.serverMs });
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

function storeOver(table: FakeTable, clock = { ms: 0 }) {
  let ids = 0;
  return new DestinationSyncStore({
    client: table.client(),
    logger: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    claimLeaseMs: LEASE_MS,
    nowMs: () => clock.ms,
    newClaimId: () => `c${String(++ids).padStart(15, '0')}`,
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
});
