import {
  DeadlineError,
  InterruptedError,
  JobFailedError,
  ServiceError,
  TableSkippedError,
  messageOf,
  wasNotApplied,
} from '../errors.js';
import type { Logger } from '../logger.js';
import {
  CLAIM_KEY_PREFIX,
  CLAIM_WRITES_WITHIN_SHARE,
  RECORD_PROVIDER,
  checkSameSource,
  claimItems,
  claimsOfOthers,
  createdSurelyBefore,
  type Claim,
  type ClaimPurpose,
  type ClaimsSeen,
  commitItems,
  dropIntentItems,
  findImportJob,
  intentItems,
  promote,
  readClaims,
  readDestinationSync,
  type DestinationSync,
  type PendingImport,
  type SourceIdentity,
} from '../state/sync-record.js';
import {
  describeStorageTime,
  earliestWithOffset,
  instantTime,
  serverZoneOffsetMs,
  type StorageTime,
} from '../storage/parse.js';
import type { StorageClient, StorageJob, TableDetail } from '../storage/types.js';

/** Jobs read per page while looking for a pending import's job. */
const JOB_PAGE_SIZE = 100;
/** Pages read at most; the job is normally on the first. */
const JOB_PAGES_MAX = 20;

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

/** This run's claim on a table: held around its intent and import start, its commit, or a settling. */
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

/** Rounds of settling a pending import: one to find a running job, one after waiting for it. */
const SETTLE_ROUNDS = 3;

/** A critical section's view once this run's claim is written: what the answer showed. */
interface Section {
  readonly held: HeldClaim;
  readonly sync: DestinationSync;
  readonly seen: ClaimsSeen;
  /** The server's zone offset, when its timestamps have no zone and the claim's answer a `Date`. */
  readonly serverZoneOffsetMs?: number;
}

/**
 * The destination table's sync record over the Storage API (docs/sync-record.md): read it,
 * settle a pending import left by an earlier run, check it just before an import, and write the
 * intent and the committed record. Every write of the record or the intent happens inside a
 * claim (docs/sync-record.md, Claims), so two runs never interleave their reads and writes.
 */
export class DestinationSyncStore {
  readonly #deps: DestinationSyncDeps;
  /**
   * Per table, the keys of the import claims whose intent's job this run has found: they have done
   * their work (the job exists; only the claim's deletion is left), so they no longer hold the
   * table. By claim key, not by run id: runs that share a fixed `KBC_RUNID` are still told apart.
   */
  readonly #startedClaims = new Map<string, Set<string>>();
  /** Per table, the claims it carried when this run opened it (for {@link sweepLapsedClaims}). */
  readonly #claimsAtOpen = new Map<string, readonly Claim[]>();
  /**
   * This run's claims under which a record or intent write was sent and never answered with
   * success: it may still land at the server (docs/sync-record.md, Claims), so {@link release}
   * keeps such a claim until its lease has passed.
   */
  readonly #unsettledClaims = new WeakSet<HeldClaim>();
  /**
   * Keys of this run's claims that {@link release} kept: they hold the table against other runs
   * until their lease, not against this run (its commit after an import whose intent write had a
   * timed-out attempt).
   */
  readonly #ownKeptClaims = new Set<string>();

  constructor(deps: DestinationSyncDeps) {
    this.#deps = deps;
  }

  /**
   * Reads the table (null when it does not exist), refuses a table fed by another source, and
   * settles a pending import: its job succeeded → its window becomes the watermark; failed or
   * never started → the intent is dropped; still running → waited for.
   * @throws UserError for a foreign or unreadable record; TableSkippedError while another run
   * holds the table
   */
  async open(tableId: string, source: SourceIdentity): Promise<OpenedTable> {
    const table = await this.#deps.client.findTable(tableId);
    const sync = checkedSync(tableId, table, source);
    if (!sync.pending) return this.#opened(tableId, { table, sync });
    await this.#settle(tableId, source);
    // Read again: the settled record is what this run builds on (and compares before importing).
    const settled = await this.#deps.client.findTable(tableId);
    return this.#opened(tableId, { table: settled, sync: checkedSync(tableId, settled, source) });
  }

  #opened(tableId: string, opened: OpenedTable): OpenedTable {
    this.#claimsAtOpen.set(tableId, opened.sync.claims);
    return opened;
  }

  /**
   * For a table this run found unchanged, so never claims: a claim left by a run that died on it
   * would otherwise stay until the source changes (docs/sync-record.md, Claims). Only when a claim
   * seen at open looks past its lease at `serverNowMs` does one claim section run; its answer ages
   * the claims properly and deletes the lapsed ones, as every claim section does.
   * @returns how many claims were deleted
   */
  async sweepLapsedClaims(tableId: string, serverNowMs: number): Promise<number> {
    const claims = this.#claimsAtOpen.get(tableId) ?? [];
    const now = instantTime(serverNowMs);
    const { stale } = claimsOfOthers(claims, undefined, now, this.#deps.claimLeaseMs);
    if (stale.length === 0) return 0;
    return this.#inSection(tableId, 'settle', (section) =>
      Promise.resolve(section.seen.stale.length),
    );
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
    throw overlapSkip(
      tableId,
      table === null ? 'another run has dropped the table' : movedBy(sync),
    );
  }

  /**
   * Claims the table for this run's import: another run's live claim, or a record or intent moved
   * since `revision`, skips the table (the claim deleted again). The caller writes its intent and
   * starts its import under the claim, then releases it.
   * @throws TableSkippedError saying which run holds the table
   */
  async claim(tableId: string, revision: string): Promise<HeldClaim> {
    const section = await this.#enter(tableId, 'import');
    const holder = this.#holder(tableId, section.seen);
    if (holder === undefined && section.sync.revision === revision) return section.held;
    await this.release(tableId, section.held);
    throw overlapSkip(tableId, holder ? heldBy(holder) : movedBy(section.sync));
  }

  /**
   * Refuses a request under a claim older than a third of its lease (the Storage API answered
   * slowly): the lease must leave two thirds for that request's own retries (docs/sync-record.md,
   * Claims), so the table is skipped and what is pending is left to the next run.
   * @param action what the claim would no longer cover, as in `too old to <action>`
   * @throws TableSkippedError when the claim is too old
   */
  checkFresh(tableId: string, held: HeldClaim, action: string): void {
    const ageMs = this.#deps.nowMs() - held.sentAtMs;
    if (ageMs <= this.#deps.claimLeaseMs * CLAIM_WRITES_WITHIN_SHARE) return;
    throw new TableSkippedError(
      `Skipping "${tableId}": this run's claim on it is too old to ${action} (the Storage API answered slowly); the next run goes on from the destination's record.`,
    );
  }

  /**
   * Deletes this run's claim, unless a write under it has an unknown outcome (it was sent, and
   * failed, timed out or was aborted): that write may still land, and other runs must keep
   * skipping the table until the lease has passed. A failed deletion is only logged (the claim
   * lapses with its lease).
   */
  async release(tableId: string, held: HeldClaim): Promise<void> {
    if (this.#unsettledClaims.has(held)) {
      this.#ownKeptClaims.add(held.key);
      this.#deps.logger.warn(
        `A write of the sync record on "${tableId}" may still land (its outcome is unknown): this run's claim "${held.key}" stays until its lease has passed, and runs skip the table until then.`,
      );
      return;
    }
    await this.#deleteClaims(tableId, [{ key: held.key, metadataId: held.metadataId }]);
  }

  /**
   * Write-ahead intent, under this run's import claim: settled by the commit or the next run. It
   * names that claim, so the run that finds its job knows which claim is done.
   */
  async writeIntent(tableId: string, held: HeldClaim, pending: PendingImport): Promise<void> {
    await this.#write(tableId, held, intentItems({ ...pending, claimKey: held.key }));
  }

  /**
   * After this run's import succeeded: under a claim, commits its window unless another run has
   * already settled this intent (it found the job and promoted it, possibly followed by its own
   * import), so an older watermark never overwrites a newer one. While another run holds the
   * table, the intent is left for the next run, which promotes it from the job.
   * @returns false when the record was not written
   */
  async commitOwn(tableId: string, pending: PendingImport, importJobId: number): Promise<boolean> {
    const { logger } = this.#deps;
    return this.#inSection(tableId, 'commit', async (section) => {
      const holder = this.#holder(tableId, section.seen);
      if (holder) {
        logger.warn(
          `"${tableId}": ${heldBy(holder)}, so this run does not record its import (job ${importJobId}); the next run records it from the job.`,
        );
        return false;
      }
      if (!isIntent(section.sync.pending, pending)) {
        logger.info(
          `"${tableId}": another run already settled this run's import (job ${importJobId}); its record stands.`,
        );
        return false;
      }
      const record = promote(section.sync.record, pending, importJobId);
      await this.#write(tableId, section.held, commitItems(record));
      return true;
    });
  }

  /** After this run's import job failed: drops its intent under a claim; else the next run does. */
  async dropIntentQuietly(tableId: string, pending: PendingImport): Promise<void> {
    try {
      await this.#inSection(tableId, 'settle', async (section) => {
        const ours = isIntent(section.sync.pending, pending);
        if (ours && !this.#holder(tableId, section.seen)) {
          await this.#write(tableId, section.held, dropIntentItems());
        }
      });
    } catch (error) {
      this.#deps.logger.warn(
        `Could not drop the pending import on "${tableId}" (${messageOf(error)}); the next run settles it.`,
      );
    }
  }

  /**
   * Settles the pending intent, each decision inside a claim. The jobs list is read inside the
   * claim: an intent's run writes its claim before its intent and deletes it only once its job
   * exists, so a job missing from a list read while no claim of its run is live never starts.
   * A running job is waited for outside the claim, then the intent is settled in the next round.
   * @throws DeadlineError when the job is still running after the last round
   */
  async #settle(tableId: string, source: SourceIdentity): Promise<void> {
    for (let round = 0; round < SETTLE_ROUNDS; round += 1) {
      const running = await this.#inSection(tableId, 'settle', (section) =>
        this.#settleOnce(tableId, source, section),
      );
      if (!running) return;
      await this.#waitOutcome(tableId, running);
    }
    throw new DeadlineError(
      `The pending import on "${tableId}" was still running after ${SETTLE_ROUNDS} waits; the next run settles it.`,
    );
  }

  /**
   * One settling decision inside a claim.
   * @returns the intent's job while it is still running (to be waited for), else undefined
   */
  async #settleOnce(
    tableId: string,
    source: SourceIdentity,
    section: Section,
  ): Promise<StorageJob | undefined> {
    const { logger } = this.#deps;
    const { sync } = section;
    checkSameSource(tableId, sync, source);
    const pending = sync.pending;
    if (!pending) return undefined;
    // A zone-less intent time read with the zone this answer showed: the search ends an hour
    // (a daylight-saving change) before it, not 14 (docs/sync-record.md).
    const written =
      sync.pendingWritten && earliestWithOffset(sync.pendingWritten, section.serverZoneOffsetMs);
    const job = await this.#findJob(tableId, pending, written);
    if (job) this.#noteStarted(tableId, pending);
    const holder = this.#holder(tableId, section.seen);
    if (holder) throw overlapSkip(tableId, heldBy(holder));
    if (!job) {
      logger.warn(
        `"${tableId}" has a pending import of file ${pending.fileId} (run "${pending.runId}") that never started: dropping it.`,
      );
      await this.#write(tableId, section.held, dropIntentItems());
      return undefined;
    }
    if (job.status === 'waiting' || job.status === 'processing') {
      logger.info(
        `"${tableId}" has a pending import (job ${job.id}, run "${pending.runId}") still ${job.status}: waiting for it.`,
      );
      return job;
    }
    if (job.status === 'success' && reportsMoreRowsThanLoaded(pending, job)) {
      logger.warn(
        `"${tableId}": the pending import of run "${pending.runId}" (job ${job.id}) reports more rows than the full load of ${pending.rows} it was to make: dropping it; the window is exported again.`,
      );
      await this.#write(tableId, section.held, dropIntentItems());
      return undefined;
    }
    if (job.status === 'success') {
      logger.info(
        `"${tableId}": the pending import of run "${pending.runId}" (job ${job.id}) succeeded: its window is now the watermark.`,
      );
      await this.#write(tableId, section.held, commitItems(promote(sync.record, pending, job.id)));
      return undefined;
    }
    logger.warn(
      `"${tableId}": the pending import of run "${pending.runId}" (job ${job.id}) failed: dropping it.`,
    );
    await this.#write(tableId, section.held, dropIntentItems());
    return undefined;
  }

  /** Waits for a running import; its failure is settled in the next round, not thrown. */
  async #waitOutcome(tableId: string, job: StorageJob): Promise<void> {
    try {
      await this.#deps.client.waitForJob(job, { signal: this.#deps.signal });
    } catch (error) {
      if (!(error instanceof JobFailedError)) throw error;
      this.#deps.logger.info(`"${tableId}": the pending import (job ${job.id}) failed.`);
    }
  }

  /**
   * Runs `body` inside a claim of this run's, deleting the claim afterwards whatever happens,
   * unless a write under it may still land ({@link release}).
   */
  async #inSection<T>(
    tableId: string,
    purpose: ClaimPurpose,
    body: (section: Section) => Promise<T>,
  ): Promise<T> {
    const section = await this.#enter(tableId, purpose);
    try {
      return await body(section);
    } finally {
      await this.release(tableId, section.held);
    }
  }

  /**
   * Writes a claim of this run's and reads the answer. Other claims are aged against this claim's
   * own `timestamp`: written by the same server in the same format, so a timestamp without a time
   * zone, or a server clock apart from the one that sends `Date`, cannot make a live claim look
   * dead. Only an answer without timestamps falls back to its `Date`. Claims past the lease, and
   * import claims whose job this run has found, are deleted.
   */
  async #enter(tableId: string, purpose: ClaimPurpose): Promise<Section> {
    const { client, nowMs, newClaimId } = this.#deps;
    const key = `${CLAIM_KEY_PREFIX}${newClaimId()}`;
    const sentAtMs = nowMs();
    const answer = await client.setTableMetadata(tableId, {
      provider: RECORD_PROVIDER,
      metadata: claimItems(key, client.runId, purpose),
    });
    const own = readClaims(answer.metadata).find((c) => c.key === key);
    if (own?.metadataId === undefined) {
      throw new ServiceError(
        `The Storage API's answer to this run's claim on "${tableId}" does not list the claim; the table is not written.`,
      );
    }
    const held: HeldClaim = { key, metadataId: own.metadataId, sentAtMs };
    let sync: DestinationSync;
    try {
      sync = readDestinationSync(tableId, answer.metadata);
    } catch (error) {
      await this.release(tableId, held); // an unreadable record: leave no claim behind
      throw error;
    }
    const reference = own.written ?? instantTime(answer.serverTimeMs);
    const seen = claimsOfOthers(sync.claims, key, reference, this.#deps.claimLeaseMs);
    await this.#deleteClaims(tableId, [...seen.stale, ...seen.live.filter(this.#doneIn(tableId))]);
    const offsetMs =
      own.written && answer.dateHeaderMs !== undefined
        ? serverZoneOffsetMs(own.written, answer.dateHeaderMs)
        : undefined;
    return { held, sync, seen, ...(offsetMs !== undefined && { serverZoneOffsetMs: offsetMs }) };
  }

  /** The first other run that holds the table: a live claim not known to be done, not this run's. */
  #holder(tableId: string, seen: ClaimsSeen): Claim | undefined {
    const done = this.#doneIn(tableId);
    return seen.live.find((c) => !done(c) && !this.#ownKeptClaims.has(c.key));
  }

  /** An import claim whose intent's import job this run has found: only its deletion was left. */
  #doneIn(tableId: string): (claim: Claim) => boolean {
    const started = this.#startedClaims.get(tableId);
    return (c) => c.purpose === 'import' && started?.has(c.key) === true;
  }

  /**
   * Notes the claim an intent was written under once its job is found. An intent of an older
   * version names no claim: its run's claim then counts until it is deleted or its lease passes.
   */
  #noteStarted(tableId: string, pending: PendingImport): void {
    if (pending.claimKey === undefined) return;
    const started = this.#startedClaims.get(tableId) ?? new Set<string>();
    this.#startedClaims.set(tableId, started.add(pending.claimKey));
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

  /**
   * Writes the record or the intent under `held`, unless the claim has grown too old or the run
   * is being stopped (then nothing is sent). Once sent, the write counts as unsettled until it is
   * answered with success: see {@link release}.
   * @throws TableSkippedError when the claim is too old; InterruptedError when the run is stopped
   */
  async #write(
    tableId: string,
    held: HeldClaim,
    metadata: { key: string; value: string }[],
  ): Promise<void> {
    this.checkFresh(tableId, held, 'write under');
    // The client sends no new request after the stop signal either; checked here so that a write
    // not sent is known as such, and its claim can be deleted.
    if (this.#deps.signal.aborted) {
      throw new InterruptedError(
        `The sync record on "${tableId}" was not written: the run is being stopped.`,
      );
    }
    this.#unsettledClaims.add(held);
    const answer = await this.#deps.client
      .setTableMetadata(tableId, { provider: RECORD_PROVIDER, metadata })
      .catch((error: unknown) => {
        // Refused or never reached on every attempt: nothing can land, the claim may go.
        if (wasNotApplied(error)) this.#unsettledClaims.delete(held);
        throw error;
      });
    // A timed-out earlier attempt of the same write may still land after a newer one of another run.
    if (answer.earlierAttemptMayLand !== true) this.#unsettledClaims.delete(held);
  }

  /**
   * The intent's import job, newest jobs first. Undefined (never started) only when the search
   * covered every job since the intent: the list ended, or a page reached a job that surely came
   * before the intent was written ({@link createdSurelyBefore}: an intent timestamp without a
   * time zone reaches 14 hours further back).
   * @throws ServiceError when the pages read end before that (the outcome stays unknown)
   */
  async #findJob(
    tableId: string,
    pending: PendingImport,
    written: StorageTime | undefined,
  ): Promise<StorageJob | undefined> {
    for (let page = 0; page < JOB_PAGES_MAX; page += 1) {
      const jobs = await this.#deps.client.listJobs(JOB_PAGE_SIZE, page * JOB_PAGE_SIZE);
      const found = findImportJob(jobs, tableId, pending);
      if (found) return found;
      const oldest = jobs.at(-1);
      if (jobs.length < JOB_PAGE_SIZE || !oldest) return undefined;
      if (createdSurelyBefore(oldest.createdTime, written)) return undefined;
    }
    throw new ServiceError(
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

function isIntent(current: PendingImport | undefined, pending: PendingImport): boolean {
  return current?.runId === pending.runId && current.fileId === pending.fileId;
}

function overlapSkip(tableId: string, why: string): TableSkippedError {
  return new TableSkippedError(
    `Skipping "${tableId}": ${why}, so this run's window would overlap; the next run goes on from the destination's record.`,
  );
}

function movedBy(sync: DestinationSync): string {
  return sync.pending
    ? `another run holds a pending import (run "${sync.pending.runId}")`
    : `another run has moved its sync record (run "${sync.record?.runId ?? 'unknown'}")`;
}

function heldBy(claim: Claim): string {
  return `run "${claim.runId ?? 'unknown'}" holds a claim on it (${describeClaim(claim)})`;
}

function describeClaim(claim: Claim): string {
  const when =
    claim.written === undefined ? 'at an unknown time' : `at ${describeStorageTime(claim.written)}`;
  return `metadata "${claim.key}", written ${when}`;
}

/**
 * Whether a successful import job contradicts its intent: a full load that reports more rows than
 * it loaded. The run that made the job checks its results in full and drops the intent when they
 * contradict the load; this check covers an intent that run could not drop (docs/standalone.md).
 */
function reportsMoreRowsThanLoaded(pending: PendingImport, job: StorageJob): boolean {
  const total = job.results?.totalRowsCount;
  return pending.mode === 'full' && typeof total === 'number' && total > pending.rows;
}
