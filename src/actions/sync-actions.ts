import { explainRejectedToken, type SourceAuthorization } from '../auth/check-token.js';
import type { Config } from '../config/types.js';
import { decideSkip, skipInputOf } from '../state/unchanged.js';
import { UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { authorizeSource } from '../auth/authorize-source.js';
import { isPattern } from '../config/glob.js';
import {
  configTokens,
  destinationLabel,
  destinationOfRecord,
  loadWarnings,
  planTables,
  sourceTableName,
  type Selection,
  type TablePlan,
  usableTables,
} from '../plan/plan-tables.js';
import { destinationTableId } from '../output/project-writer.js';
import { exportWindow, refreshAfterOpenEndedLoad, type TableState } from '../state/cursor.js';
import { entryForDestination } from '../state/destination-move.js';
import { checkIncarnation } from '../state/source-recreated.js';
import { checkStateSource, readState } from '../state/state-file.js';
import { latestMs } from '../storage/parse.js';
import type { StorageClient, TableDetail } from '../storage/types.js';
import {
  CLAIM_LEASE_MS,
  resumeFrom,
  startsOverReason,
  type Claim,
  type PendingImport,
} from '../state/sync-record.js';
import {
  destinationAccess,
  previewResume,
  type DestinationAccess,
} from '../output/resume-preview.js';
import type { LastActivity } from '../tokens/rules.js';
import { openEndedRefreshWarning, type RunDeps } from '../run.js';
import type { SyncAction } from '../config/action-names.js';

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
  /** Whether a run would skip unchanged `lastRun` tables (default true; see `Tuning`). */
  readonly skipUnchanged?: boolean;
  /** Standalone mode: the destination project, read (never written) for its sync records. */
  readonly destination?: StorageClient;
}

/** Runs one sync action; never writes to out/. */
export async function runSyncAction(name: SyncAction, deps: ActionDeps): Promise<unknown> {
  const auth = await authorizeSource(deps.source, deps.config, deps.nowMs(), deps.logger);
  const info = { projectId: auth.projectId, projectName: auth.projectName, bucket: auth.bucketId };
  switch (name) {
    case 'testConnection':
      return connectionResult(auth, await tokenLastActivity(deps, auth.tokenId));
    case 'info':
      return info;
    case 'list':
      return { tables: tableList(await listUsableTables(deps, auth.bucketId)) };
    case 'sourceInfo':
      return { tables: tableList(await listUsableTables(deps, auth.bucketId)), project: info };
    case 'plan':
      return planDocument(deps, auth, auth.warnings);
    case 'tableOptions':
      return tableOptions(await listUsableTables(deps, auth.bucketId));
    case 'columnOptions':
      return columnOptions(deps.config, auth.bucketId, await listUsableTables(deps, auth.bucketId));
  }
}

/**
 * The bucket's tables a configuration can name: a name that breaks the naming rules (a token
 * pasted as a table name, or one holding a token of the config) is left out with a warning,
 * never offered (docs/sync-actions.md).
 */
async function listUsableTables(deps: ActionDeps, bucketId: string): Promise<TableDetail[]> {
  const { tables, warnings } = usableTables(
    await deps.source.listTables(bucketId),
    configTokens(deps.config),
  );
  warnings.forEach((warning) => deps.logger.warn(warning));
  return tables;
}

/**
 * `testConnection` for the form's validation button (`format: sync-action`, which shows `message`
 * as markdown with the look of `type`; docs/sync-actions.md): what the token may read, and the
 * token rules' warnings (expiry, wide flags), so the button shows them too (pure). A failed check
 * never gets here: it is exit 1 with its sentence.
 */
export function connectionResult(
  auth: Pick<SourceAuthorization, 'bucketId' | 'projectId' | 'projectName' | 'warnings'>,
  lastActivity: LastActivity | null,
): {
  status: 'success';
  type: 'success' | 'warning';
  message: string;
  lastActivity: LastActivity | null;
} {
  const reads = `The token reads the bucket ${code(auth.bucketId)} of project ${code(auth.projectName)} (${auth.projectId}), read-only.`;
  const warnings = auth.warnings.map((warning) => `- ${warning.replace(/\s+/g, ' ')}`);
  return {
    status: 'success',
    type: warnings.length > 0 ? 'warning' : 'success',
    message: [reads, ...warnings].join('\n'),
    lastActivity,
  };
}

/** A name as markdown code: whatever it holds is shown, never rendered. */
function code(name: string): string {
  return `\`${name.replace(/`/g, "'").replace(/\s+/g, ' ')}\``;
}

/** One choice of a UI select fed by a sync action (docs/sync-actions.md). */
interface SelectOption {
  readonly value: string;
  readonly label: string;
}

/** `tableOptions`: every table of the bucket, in name order, labelled with rows and key (pure). */
function tableOptions(tables: readonly TableDetail[]): SelectOption[] {
  return [...tables]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((table) => {
      const rows =
        table.rowsCount === null ? 'rows unknown' : `${formatCount(table.rowsCount)} rows`;
      const key =
        table.primaryKey.length > 0
          ? `primary key ${table.primaryKey.join(', ')}`
          : 'no primary key';
      return { value: table.name, label: `${table.name} (${rows}, ${key})` };
    });
}

/**
 * `columnOptions`: the columns of the row's `tableName`, key columns marked (pure). No table
 * chosen yet (or a pattern) gives an empty list, so the form opens before a table is picked.
 * @throws UserError when the table is not in the bucket
 */
function columnOptions(
  config: Pick<Config, 'tables'>,
  bucketId: string,
  tables: readonly TableDetail[],
): SelectOption[] {
  const name = config.tables[0]?.name;
  if (name === undefined || isPattern(name)) return [];
  const problems: string[] = [];
  const bare = sourceTableName(name, bucketId, problems);
  if (bare === undefined) throw new UserError(problems.join(' '));
  const table = tables.find((t) => t.name === bare);
  if (!table) throw new UserError(`The table "${bare}" was not found in the bucket "${bucketId}".`);
  return table.columns.map((column) => ({
    value: column,
    label: table.primaryKey.includes(column) ? `${column} (primary key)` : column,
  }));
}

function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}

/** The source token's last activity (`{at, event}`), or null. */
async function tokenLastActivity(deps: ActionDeps, tokenId: string): Promise<LastActivity | null> {
  return deps.lastActivity ? deps.lastActivity(tokenId) : null;
}

function tableList(tables: readonly TableDetail[]) {
  return tables.map((t) => ({ name: t.name, primaryKey: t.primaryKey }));
}

/**
 * The `plan` action and `--dry-run`: per table what a run would do, with its window and the
 * source size, and warnings about choices that lose or duplicate rows. Nothing is written.
 */
async function planDocument(
  deps: ActionDeps,
  auth: { bucketId: string; tokenId: string; projectId: number },
  tokenWarnings: readonly string[],
) {
  const { bucketId, tokenId } = auth;
  const bucketTables = await deps.source.listTables(bucketId);
  const expansionWarnings: string[] = [];
  const plans = planTables(deps.config, bucketId, bucketTables, deps.selection, (warning) =>
    expansionWarnings.push(warning),
  );
  const state = await readState(deps.dataDir);
  // As the run does: a state of another project is refused, not previewed (docs/state-file.md).
  checkStateSource(state, { stack: deps.config.source.url, projectId: auth.projectId });
  const serverNowSeconds = Math.floor((await deps.source.serverTimeMs()) / 1000);
  // Standalone: the destination token, asked once, for the checks of a run's `prepare`.
  let access: Promise<DestinationAccess> | undefined;
  const accessOf = (client: StorageClient) =>
    (access ??= client.verifyToken().then(
      (token) => destinationAccess(client, token),
      (error: unknown) => {
        throw explainRejectedToken(error, 'destination', client.url);
      },
    ));
  return {
    mode: deps.config.destination ? 'standalone' : 'platform',
    warnings: [
      ...tokenWarnings,
      ...expansionWarnings,
      ...stateWarnings(deps, plans, state),
      ...(await unusedBucketWarnings(deps, plans, accessOf)),
    ],
    tokenLastActivity: await tokenLastActivity(deps, tokenId),
    tables: await mapInOrder(plans, async (plan) => {
      const resume = checkedResume(
        plan,
        await resumeOf(
          deps,
          plan,
          state.tables[plan.sourceId],
          Object.keys(state.tables).length > 0,
          auth.projectId,
          accessOf,
        ),
      );
      const { previous } = resume;
      const decision =
        'refusal' in resume ? { export: false } : exportDecision(plan, previous?.watermark, deps);
      // A table the run skips as unchanged is not refreshed either.
      const refresh = decision.export ? refreshAfterOpenEndedLoad(plan, previous) : undefined;
      const load = refresh ?? plan;
      const window = exportWindow({
        changedSince: load.changedSince,
        fullRefresh: load.fullRefresh,
        previous,
        serverNowSeconds,
        lagSeconds: deps.config.lagSeconds,
        mode: load.mode,
        configuredMode: load.configuredMode,
        resolve: deps.resolveChangedSince,
        tableId: plan.sourceId,
      });
      return {
        source: plan.sourceId,
        ...(plan.pattern !== undefined ? { pattern: plan.pattern } : {}),
        destination: destinationLabel(plan, deps.config.destination),
        mode: load.mode,
        primaryKey: plan.primaryKey,
        window: {
          since: window.since !== undefined ? new Date(window.since * 1000).toISOString() : null,
          until: window.until !== undefined ? new Date(window.until * 1000).toISOString() : null,
        },
        rows: plan.source.rowsCount,
        bytes: plan.source.dataSizeBytes,
        ...decision,
        ...('watermarkFrom' in resume && { watermarkFrom: resume.watermarkFrom }),
        ...('pendingImport' in resume && { pendingImport: resume.pendingImport }),
        ...('claims' in resume && { claims: resume.claims }),
        warnings: [
          ...resume.warnings,
          ...loadWarnings(plan),
          ...(refresh ? [openEndedRefreshWarning(plan.sourceId, previous)] : []),
        ],
      };
    }),
  };
}

/**
 * A resume checked against the source table as it is now, as a run checks it (checkIncarnation):
 * a table the run would refuse says why, one it would copy in full says that.
 */
function checkedResume<R extends { previous: TableState | undefined; warnings: string[] }>(
  plan: TablePlan,
  resume: R,
): R | (R & { refusal: true }) {
  if ('refusal' in resume) return resume;
  const checked = checkIncarnation(plan, resume.previous);
  if ('refusal' in checked) {
    return {
      ...resume,
      previous: undefined,
      refusal: true,
      warnings: [...resume.warnings, `A run would fail this table: ${checked.refusal}`],
    };
  }
  return {
    ...resume,
    previous: checked.previous,
    warnings: [...resume.warnings, ...checked.warnings],
  };
}

/**
 * Standalone: a run checks `destination.bucket` even when no planned table goes there (a run of
 * tables that all name another bucket); the tables that do go there carry the warning instead.
 */
async function unusedBucketWarnings(
  deps: ActionDeps,
  plans: readonly TablePlan[],
  accessOf: (client: StorageClient) => Promise<DestinationAccess>,
): Promise<string[]> {
  const destination = deps.config.destination;
  if (!destination || !deps.destination) return [];
  const bucket = destination.bucket;
  if (plans.some((plan) => destinationTableId(plan, destination).startsWith(`${bucket}.`))) {
    return [];
  }
  const refusal = await (await accessOf(deps.destination)).bucketRefusal(bucket);
  return refusal === undefined ? [] : [`A run would stop before copying any table: ${refusal}`];
}

/** One at a time, in order: a plan reads the destination table by table, as a run would. */
async function mapInOrder<T, R>(items: readonly T[], map: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (const item of items) results.push(await map(item));
  return results;
}

/**
 * Where a run would go on from. Platform mode: the entry of in/state.json, unless its watermark
 * was made for another destination. Standalone mode: as a
 * run's resume (docs/sync-record.md), read without writing: a missing destination table is copied
 * in full; otherwise its sync record, or in/state.json for a table without one. A pending import
 * is shown (a run settles it first), and a table a run would refuse says why.
 */
async function resumeOf(
  deps: ActionDeps,
  plan: ReturnType<typeof planTables>[number],
  fromState: TableState | undefined,
  hasState: boolean,
  projectId: number,
  accessOf: (client: StorageClient) => Promise<DestinationAccess>,
) {
  const destination = destinationOfRecord(plan, deps.config);
  if (!deps.config.destination || !deps.destination) {
    const kept = entryForDestination(plan, fromState, destination, true);
    // Without any state (a Keboola sync action gets none) stateWarnings says it for every table.
    return { previous: kept.entry, warnings: hasState ? kept.warnings : [] };
  }
  const source = { stack: deps.config.source.url, projectId, tableId: plan.sourceId };
  const preview = await previewResume(
    deps.destination,
    deps.config.destination,
    plan,
    source,
    await accessOf(deps.destination),
  );
  if (preview.refusal !== undefined) {
    return {
      previous: undefined,
      refusal: true,
      warnings: [
        preview.stopsRun === true
          ? `A run would stop before copying any table: ${preview.refusal}`
          : `A run would fail this table: ${preview.refusal}`,
      ],
    };
  }
  const resumed = resumeFrom(preview, preview.committed, fromState);
  const kept =
    resumed.from === 'state'
      ? entryForDestination(plan, fromState, destination, false)
      : { entry: resumed.previous, warnings: [] };
  const pending = preview.pending;
  return {
    previous: kept.entry,
    watermarkFrom: kept.entry === undefined ? null : resumed.from,
    ...(pending && {
      pendingImport: { runId: pending.runId, fileId: pending.fileId },
    }),
    ...(preview.claims.length > 0 && { claims: preview.claims.map(claimView) }),
    warnings: [
      ...(resumed.ignoresStateWatermark
        ? [
            `The destination table "${preview.tableId}" ${startsOverReason(resumed.startsOver)}: a run copies it in full (the watermark in in/state.json is ignored).`,
          ]
        : []),
      ...kept.warnings,
      ...(pending ? [pendingWarning(preview.tableId, pending)] : []),
      ...preview.claims.map((claim) => claimWarning(preview.tableId, claim)),
    ],
  };
}

function claimView(claim: Claim): {
  runId: string | null;
  purpose: string | null;
  writtenAt: string | null;
} {
  return {
    runId: claim.runId ?? null,
    purpose: claim.purpose ?? null,
    // An instant, or Storage's own text for a time without a zone (never a guessed zone).
    writtenAt:
      claim.written === undefined
        ? null
        : claim.written.zoned
          ? new Date(claim.written.ms).toISOString()
          : claim.written.text,
  };
}

/** The plan reads without writing, so it cannot age a claim against the server: it gives the bound. */
function claimWarning(tableId: string, claim: Claim): string {
  const until =
    claim.written === undefined
      ? 'until it is deleted'
      : `until ${new Date(latestMs(claim.written) + CLAIM_LEASE_MS).toISOString()} at the latest`;
  return `"${tableId}" has a claim of run "${claim.runId ?? 'unknown'}"${claim.purpose ? ` (${claim.purpose})` : ''}: a run skips this table while the claim holds, ${until} (metadata "${claim.key}").`;
}

function pendingWarning(tableId: string, pending: PendingImport): string {
  const next =
    pending.nextWatermark === undefined
      ? ''
      : `, and if its job succeeded the window starts at ${new Date(pending.nextWatermark * 1000).toISOString()} instead`;
  return `"${tableId}" has a pending import (run "${pending.runId}", file ${pending.fileId}): a run settles it first${next}.`;
}

/**
 * Whether a run would start an export job for the table, or skip it as unchanged
 * (docs/performance.md, "Skipping unchanged tables"), from the watermark it would resume from.
 */
function exportDecision(
  plan: ReturnType<typeof planTables>[number],
  watermark: number | undefined,
  deps: ActionDeps,
) {
  if (deps.skipUnchanged === false) return { export: true };
  const decision = decideSkip(skipInputOf(plan, watermark));
  if (!decision.skip || watermark === undefined) return { export: true };
  return {
    export: false,
    unchanged: {
      lastChange: new Date(decision.lastChangeSeconds * 1000).toISOString(),
      watermark: new Date(watermark * 1000).toISOString(),
    },
  };
}

/**
 * Platform mode reads the watermarks from in/state.json, which a Keboola sync action never gets
 * (docs/sync-actions.md): say so when lastRun tables have none, since their windows then start at
 * the beginning although the run would resume.
 */
function stateWarnings(
  deps: ActionDeps,
  plans: ReturnType<typeof planTables>,
  state: Awaited<ReturnType<typeof readState>>,
): string[] {
  if (deps.config.destination) return [];
  const withoutWatermark = plans.filter(
    (plan) => plan.changedSince?.kind === 'lastRun' && state.tables[plan.sourceId] === undefined,
  ).length;
  if (withoutWatermark === 0) return [];
  return [
    `${withoutWatermark} lastRun table(s) have no saved watermark in in/state.json, so their windows start at the beginning. A Keboola sync action gets no state: there the plan always looks like this, while a run resumes from the saved state.`,
  ];
}
