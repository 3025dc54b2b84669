import type { Config } from '../config/types.js';
import type { Logger } from '../logger.js';
import { authorizeSource } from '../auth/authorize-source.js';
import { destinationLabel, planTables, type Selection } from '../plan/plan-tables.js';
import { exportWindow } from '../state/cursor.js';
import { readState } from '../state/state-file.js';
import type { StorageClient } from '../storage/types.js';
import type { LastActivity } from '../tokens/rules.js';
import type { RunDeps } from '../run.js';

/** Sync actions (docs/architecture.md, Sync actions). Each returns the one JSON document printed on stdout. */
export const SYNC_ACTIONS = ['list', 'info', 'sourceInfo', 'testConnection', 'plan'] as const;
export type SyncAction = (typeof SYNC_ACTIONS)[number];

export function isSyncAction(name: string): name is SyncAction {
  return (SYNC_ACTIONS as readonly string[]).includes(name);
}

export interface ActionDeps {
  readonly config: Config;
  readonly dataDir: string;
  readonly selection: Selection;
  readonly source: StorageClient;
  readonly logger: Logger;
  readonly nowMs: () => number;
  readonly resolveChangedSince: RunDeps['resolveChangedSince'];
  /** The newest of the token's own events (null when none or unreadable). */
  readonly lastActivity?: (tokenId: string) => Promise<LastActivity | null>;
}

/** Runs one sync action; never writes to out/. */
export async function runSyncAction(name: SyncAction, deps: ActionDeps): Promise<unknown> {
  const auth = await authorizeSource(deps.source, deps.config, deps.nowMs(), deps.logger);
  const info = { projectId: auth.projectId, projectName: auth.projectName, bucket: auth.bucketId };
  switch (name) {
    case 'testConnection':
      return { status: 'success', lastActivity: await tokenLastActivity(deps, auth.tokenId) };
    case 'info':
      return info;
    case 'list':
      return { tables: await listTables(deps.source, auth.bucketId) };
    case 'sourceInfo':
      return { tables: await listTables(deps.source, auth.bucketId), project: info };
    case 'plan':
      return planDocument(deps, auth.bucketId, auth.warnings, auth.tokenId);
  }
}

/** The source token's last activity (`{at, event}`), or null. */
async function tokenLastActivity(deps: ActionDeps, tokenId: string): Promise<LastActivity | null> {
  return deps.lastActivity ? deps.lastActivity(tokenId) : null;
}

async function listTables(source: StorageClient, bucketId: string) {
  const tables = await source.listTables(bucketId);
  return tables.map((t) => ({ name: t.name, primaryKey: t.primaryKey }));
}

/**
 * The `plan` action and `--dry-run`: per table what a run would do, with its window and the
 * source size, and warnings about choices that lose or duplicate rows. Nothing is written.
 */
async function planDocument(
  deps: ActionDeps,
  bucketId: string,
  tokenWarnings: readonly string[],
  tokenId: string,
) {
  const bucketTables = await deps.source.listTables(bucketId);
  const plans = planTables(deps.config, bucketId, bucketTables, deps.selection);
  const state = await readState(deps.dataDir);
  const serverNowSeconds = Math.floor((await deps.source.serverTimeMs()) / 1000);
  return {
    mode: deps.config.destination ? 'standalone' : 'platform',
    warnings: tokenWarnings,
    tokenLastActivity: await tokenLastActivity(deps, tokenId),
    tables: plans.map((plan) => {
      const window = exportWindow({
        changedSince: plan.changedSince,
        fullRefresh: plan.fullRefresh,
        previous: state.tables[plan.sourceId],
        serverNowSeconds,
        resolve: deps.resolveChangedSince,
      });
      return {
        source: plan.sourceId,
        destination: destinationLabel(plan, deps.config.destination),
        mode: plan.mode,
        primaryKey: plan.primaryKey,
        window: {
          since: window.since !== undefined ? new Date(window.since * 1000).toISOString() : null,
          until: window.until !== undefined ? new Date(window.until * 1000).toISOString() : null,
        },
        rows: plan.source.rowsCount,
        bytes: plan.source.dataSizeBytes,
        warnings: planWarnings(plan),
      };
    }),
  };
}

function planWarnings(plan: ReturnType<typeof planTables>[number]): string[] {
  const warnings: string[] = [];
  const kind = plan.changedSince?.kind;
  if (plan.mode === 'append' && kind !== 'lastRun') {
    warnings.push(
      kind
        ? 'Append with a fixed or relative changedSince re-reads overlapping windows: rows can be duplicated. Use "lastRun" or a primary key.'
        : 'Append without changedSince copies the whole table on every run: rows will be duplicated.',
    );
  }
  if (plan.mode === 'full' && kind !== undefined && !plan.fullRefresh) {
    warnings.push(
      'A full load with changedSince replaces the destination with only the changed rows. Set incremental: true to merge them instead.',
    );
  }
  return warnings;
}
