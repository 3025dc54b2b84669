import { JobFailedError, ServiceError, TableSkippedError, messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  CLAIM_KEY_PREFIX,
  CLAIM_START_WITHIN_SHARE,
  RECORD_PROVIDER,
  checkSameSource,
  claimItems,
  claimsOfOthers,
  type Claim,
  type ClaimsSeen,
  commitItems,
  dropIntentItems,
  findImportJob,
  intentItems,
  promote,
  readDestinationSync,
  type DestinationSync,
  type PendingImport,
  type SourceIdentity,
  type SyncRecord,
} from '../state/sync-record.js';
import { timestampMs } from '../storage/parse.js';
import type { StorageClient, StorageJob, TableDetail } from '../storage/types.js';

/** Jobs read per page while looking for a pending import's job. */
export const JOB_PAGE_SIZE = 100;
/** Pages read at most; the job is normally on the first. */
export const JOB_PAGES_MAX = 20;
/** Jobs created this long before the intent was written are surely older than its import. */
const INTENT_CLOCK_MARGIN_MS = 5 * 60_000;

export interface DestinationSyncDeps {
  readonly client: StorageClient;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** How long a claim counts (`CLAIM_LEASE_MS`; shorter in tests). */
  readonly claimLeaseMs: number;
  /** Local monotonic clock, ms: how long this run has held its claim. */
  readonly nowMs: () => number;
  /** A fresh id for a claim key (random: two runs never pick the same). */
  readonly newClaimId: () => string;
}

/** This run's claim on a table, held from just before its intent until its import has started. */
export interface HeldClaim {
  readonly key: string;
  readonly metadataId: string;
  /** Local clock when the claim was sent. */
  readonly sentAtMs: number;
}

/** A destination table as a run opens it: its detail and its settled sync record. */
export interface OpenedTable {
  readonly table: TableDetail | null;
  readonly sync: DestinationSync;
}

/**
 * The destination table's sync record over the Storage API (docs/sync-record.md): read it,
 * settle a pending import left by an earlier run, check it just before an import, and write the
 * intent and the committed record. Every write is one metadata upsert of our provider.
 */
export class DestinationSyncStore {
  readonly #deps: DestinationSyncDeps;
  /**
   * Per table, the runs whose import job this run has found while settling their intent: their
   * claims have done their work (the job exists), so they no longer hold the table.
   */
  readonly #startedRuns = new Map<string, Set<string>>();

  constructor(deps: DestinationSyncDeps) {
    this.#deps = deps;
  }

  /**
   * Reads the table (null when it does not exist), refuses a table fed by another source, and
   * settles a pending import: its job succeeded → its window becomes the watermark; failed or
   * never started → the intent is dropped; still running → waited for.
   * @throws UserError for a foreign or unreadable record
   */
  async open(tableId: string, source: SourceIdentity): Promise<OpenedTable> {
    const table = await this.#deps.client.findTable(tableId);
    const sync = checkedSync(tableId, table, source);
    if (!sync.pending) return { table, sync };
    await this.#settle(tableId, sync, sync.pending);
    // Read again: the settled record is what this run builds on (and compares before importing).
    const settled = await this.#deps.client.findTable(tableId);
    return { table: settled, sync: checkedSync(tableId, settled, source) };
  }

  /**
   * Re-reads the table just before an import. When another run has committed an import or holds
   * a pending one since this run opened the table (`revision`), importing this run's window would
   * overlap theirs, so the table is skipped.
   * @throws TableSkippedError saying which; UserError for a foreign record
   */
  async recheck(tableId: string, source: SourceIdentity, revision: string): Promise<OpenedTable> {
    const table = await this.#deps.client.findTable(tableId);
    const sync = checkedSync(tableId, table, source);
    if (sync.revision === revision) return { table, sync };
    const what = sync.pending
      ? `holds a pending import (run "${sync.pending.runId}")`
      : table
        ? `has moved its sync record (run "${sync.record?.runId ?? 'unknown'}")`
        : 'has dropped the table';
    throw new TableSkippedError(
      `Skipping "${tableId}": another run ${what} since this run read it, so this run's window would overlap; the next run goes on from the destination's record.`,
    );
  }

  /**
   * Claims the table for this run's import (docs/sync-record.md, Claims): writes a claim item of
   * its own, then reads the answer, which lists all of the table's metadata after the write. Of two
   * runs claiming at once, at least the later one sees the other's claim, so at most one goes on.
   * Another run's live claim, or a record or intent moved since `revision`, skips the table
   * (its own claim deleted again); claims past the lease, and those of runs whose import job this
   * run has found, are deleted.
   * @throws TableSkippedError saying which run holds the table
   */
  async claim(tableId: string, revision: string): Promise<HeldClaim> {
    const { held, sync, seen } = await this.#writeClaim(tableId);
    const started = this.#startedRuns.get(tableId);
    const done = (c: Claim) => c.runId !== undefined && started?.has(c.runId) === true;
    await this.#deleteClaims(tableId, [...seen.stale, ...seen.live.filter(done)]);
    const holder = seen.live.find((c) => !done(c));
    if (holder === undefined && sync.revision === revision) return held;
    await this.release(tableId, held);
    const why = holder
      ? `run "${holder.runId ?? 'unknown'}" claimed it for an import (${describeClaim(holder)})`
      : sync.pending
        ? `another run holds a pending import (run "${sync.pending.runId}")`
        : `another run has moved its sync record (run "${sync.record?.runId ?? 'unknown'}")`;
    throw new TableSkippedError(
      `Skipping "${tableId}": ${why}, so this run's window would overlap; the next run goes on from the destination's record.`,
    );
  }

  /**
   * Writes a claim of this run's and reads the answer. Other claims are aged against this claim's
   * own `timestamp`: written by the same server in the same format, so a timestamp without a time
   * zone, or a server clock apart from the one that sends `Date`, cannot make a live claim look
   * dead. Only an answer without timestamps falls back to its `Date`.
   */
  async #writeClaim(
    tableId: string,
  ): Promise<{ held: HeldClaim; sync: DestinationSync; seen: ClaimsSeen }> {
    const { client, nowMs, newClaimId } = this.#deps;
    const key = `${CLAIM_KEY_PREFIX}${newClaimId()}`;
    const sentAtMs = nowMs();
    const answer = await client.setTableMetadata(tableId, {
      provider: RECORD_PROVIDER,
      metadata: claimItems(key, client.runId),
    });
    const sync = readDestinationSync(tableId, answer.metadata);
    const own = sync.claims.find((c) => c.key === key);
    if (own?.metadataId === undefined) {
      throw new ServiceError(
        `The Storage API's answer to this run's claim on "${tableId}" does not list the claim; the table is not imported.`,
      );
    }
    const referenceMs = own.writtenMs ?? answer.serverTimeMs;
    const seen = claimsOfOthers(sync.claims, key, referenceMs, this.#deps.claimLeaseMs);
    return { held: { key, metadataId: own.metadataId, sentAtMs }, sync, seen };
  }

  /** Whether this run may still start its import under the claim (within a third of the lease). */
  mayStartImport(held: HeldClaim): boolean {
    return this.#deps.nowMs() - held.sentAtMs <= this.#deps.claimLeaseMs * CLAIM_START_WITHIN_SHARE;
  }

  /** Deletes this run's claim; a failure is only logged (the claim lapses with its lease). */
  async release(tableId: string, held: HeldClaim): Promise<void> {
    await this.#deleteClaims(tableId, [{ key: held.key, metadataId: held.metadataId }]);
  }

  async #deleteClaims(tableId: string, claims: readonly Claim[]): Promise<void> {
    for (const claim of claims) {
      if (claim.metadataId === undefined) continue;
      try {
        await this.#deps.client.deleteTableMetadata(tableId, claim.metadataId);
      } catch (error) {
        this.#deps.logger.warn(
          `Could not delete the claim "${claim.key}" on "${tableId}" (${messageOf(error)}); it lapses after its lease.`,
        );
      }
    }
  }

  /** Write-ahead intent: written before `import-async`, settled by the commit or the next run. */
  async writeIntent(tableId: string, pending: PendingImport): Promise<void> {
    await this.#write(tableId, intentItems(pending));
  }

  /** The committed record, and the intent settled, in one upsert. */
  async commit(tableId: string, record: SyncRecord): Promise<void> {
    await this.#write(tableId, commitItems(record));
  }

  /**
   * After this run's import succeeded: commits its window unless another run has already settled
   * this intent (it found the job and promoted it, possibly followed by its own import), so an
   * older watermark never overwrites a newer one.
   * @returns false when the intent had been settled by another run
   */
  async commitOwn(tableId: string, pending: PendingImport, importJobId: number): Promise<boolean> {
    const table = await this.#deps.client.findTable(tableId);
    const sync = table ? readDestinationSync(tableId, table.metadata) : undefined;
    const ours = sync?.pending?.runId === pending.runId && sync.pending.fileId === pending.fileId;
    if (!ours) {
      this.#deps.logger.info(
        `"${tableId}": another run already settled this run's import (job ${importJobId}); its record stands.`,
      );
      return false;
    }
    await this.commit(tableId, promote(sync.record, pending, importJobId));
    return true;
  }

  /** Drops the intent after a failed import; a failure here is left to the next run. */
  async dropIntentQuietly(tableId: string): Promise<void> {
    try {
      await this.#write(tableId, dropIntentItems());
    } catch (error) {
      this.#deps.logger.warn(
        `Could not drop the pending import on "${tableId}" (${messageOf(error)}); the next run settles it.`,
      );
    }
  }

  async #write(tableId: string, metadata: { key: string; value: string }[]): Promise<void> {
    await this.#deps.client.setTableMetadata(tableId, { provider: RECORD_PROVIDER, metadata });
  }

  async #settle(tableId: string, sync: DestinationSync, pending: PendingImport): Promise<void> {
    const { client, logger, signal } = this.#deps;
    const found = await this.#findJob(tableId, pending, sync.pendingWrittenMs);
    if (!found) {
      await this.#checkNotStarting(tableId, sync, pending);
      logger.warn(
        `"${tableId}" has a pending import of file ${pending.fileId} (run "${pending.runId}") that never started: dropping it.`,
      );
      await this.#write(tableId, dropIntentItems());
      return;
    }
    const started = this.#startedRuns.get(tableId) ?? new Set<string>();
    this.#startedRuns.set(tableId, started.add(pending.runId));
    let job: StorageJob = found;
    if (job.status === 'waiting' || job.status === 'processing') {
      logger.info(
        `"${tableId}" has a pending import (job ${job.id}, run "${pending.runId}") still ${job.status}: waiting for it.`,
      );
      try {
        job = await client.waitForJob(job, { signal });
      } catch (error) {
        if (!(error instanceof JobFailedError)) throw error;
        job = { ...job, status: 'error' };
      }
    }
    if (job.status === 'success') {
      logger.info(
        `"${tableId}": the pending import of run "${pending.runId}" (job ${job.id}) succeeded: its window is now the watermark.`,
      );
      await this.commit(tableId, promote(sync.record, pending, job.id));
      return;
    }
    logger.warn(
      `"${tableId}": the pending import of run "${pending.runId}" (job ${job.id}) failed: dropping it.`,
    );
    await this.#write(tableId, dropIntentItems());
  }

  /**
   * An intent without a job is dropped only when its run cannot be about to start the import: its
   * claim is gone or past the lease. A claim of this run's, written and deleted again, gives the
   * time to age that claim against (see `#writeClaim`).
   * @throws TableSkippedError while the intent's run holds a live claim
   */
  async #checkNotStarting(
    tableId: string,
    sync: DestinationSync,
    pending: PendingImport,
  ): Promise<void> {
    if (!sync.claims.some((c) => c.runId === pending.runId)) return;
    const probe = await this.#writeClaim(tableId);
    await this.release(tableId, probe.held);
    const holder = probe.seen.live.find((c) => c.runId === pending.runId);
    if (!holder) return;
    throw new TableSkippedError(
      `Skipping "${tableId}": run "${pending.runId}" wrote a pending import and still holds its claim (${describeClaim(holder)}), so it may be starting that import; the next run settles it.`,
    );
  }

  /**
   * The intent's import job, newest jobs first. Jobs created well before the intent was written
   * cannot be its import, so the search stops there.
   * @throws Error when the list is longer than the pages read (the outcome stays unknown)
   */
  async #findJob(
    tableId: string,
    pending: PendingImport,
    writtenMs: number | undefined,
  ): Promise<StorageJob | undefined> {
    for (let page = 0; page < JOB_PAGES_MAX; page += 1) {
      const jobs = await this.#deps.client.listJobs(JOB_PAGE_SIZE, page * JOB_PAGE_SIZE);
      const found = findImportJob(jobs, tableId, pending);
      if (found) return found;
      const oldest = jobs.at(-1);
      if (jobs.length < JOB_PAGE_SIZE || !oldest) return undefined;
      const oldestMs = timestampMs(oldest.createdTime);
      if (writtenMs !== undefined && oldestMs < writtenMs - INTENT_CLOCK_MARGIN_MS)
        return undefined;
    }
    throw new Error(
      `The import job of the pending import on "${tableId}" (file ${pending.fileId}, run "${pending.runId}") is not among the ${JOB_PAGES_MAX * JOB_PAGE_SIZE} newest jobs of the destination project; its outcome is unknown, so the table is not synced.`,
    );
  }
}

/**
 * The sync state of a destination table as read (empty when the table does not exist), refusing
 * a table fed by another source. Writes nothing: a run's open and recheck and the `plan` preview
 * all read through it.
 * @throws UserError for a foreign or unreadable record
 */
export function checkedSync(
  tableId: string,
  table: TableDetail | null,
  source: SourceIdentity,
): DestinationSync {
  const sync = readDestinationSync(tableId, table ? table.metadata : []);
  checkSameSource(tableId, sync, source);
  return sync;
}

function describeClaim(claim: Claim): string {
  const when =
    claim.writtenMs === undefined
      ? 'at an unknown time'
      : `at ${new Date(claim.writtenMs).toISOString()}`;
  return `metadata "${claim.key}", written ${when}`;
}
