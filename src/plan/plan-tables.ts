import type {
  ChangedSince,
  Config,
  DestinationConfig,
  LoadMode,
  TableConfig,
} from '../config/types.js';
import { StorageApiError, UserError } from '../errors.js';
import type { TableDetail } from '../storage/types.js';
import { inShard, type Shard } from './shard.js';
import { isPattern, matchesGlob } from '../config/glob.js';
import { MAX_PROBLEMS_SHOWN } from '../config/problems.js';
import {
  checkNamePart,
  destinationTableId,
  MAX_NAME_LENGTH,
  shortTableName,
  tableIdKey,
} from '../config/names.js';
import { hideSecrets, holdsSecret, looksLikeToken } from '../secrets.js';
import { escapeForDisplay } from '../text/escape.js';
import { nearestName } from '../text/nearest.js';

/** Everything the job decided about one table before any data moves. */
export interface TablePlan {
  /** Position in `parameters.tables` (for messages). */
  readonly index: number;
  /** As configured (what `--table` matches); the table's own name when a pattern matched it. */
  readonly configName: string;
  /** The pattern in `tables` that picked this table up, when it was not listed by name. */
  readonly pattern: string | undefined;
  /** Source table id: the state key (docs/standalone.md, Incremental windows). */
  readonly sourceId: string;
  readonly source: TableDetail;
  /**
   * The source project's default backend, when known: a typed table created in a destination of
   * another backend gets base types, not the source's native ones (docs/storage-api-notes.md,
   * Typed tables across backends).
   */
  readonly sourceBackend?: string | undefined;
  /** Export columns, in output order. */
  readonly columns: readonly string[];
  readonly primaryKey: readonly string[];
  /**
   * Where the key comes from: the configured `primaryKey` (absent: the same), or the source
   * table's own (`primaryKey: "source"`, `fullSync`), which changes when the source's does
   * (src/state/source-recreated.ts).
   */
  readonly keyFrom?: 'configured' | 'source' | 'fullSync';
  readonly incremental: boolean;
  readonly mode: LoadMode;
  /**
   * How the runs without `--full-refresh` load this table (`mode` of those runs): a refresh of an
   * append table must leave the next window's rows to it (src/state/cursor.ts).
   */
  readonly configuredMode: LoadMode;
  /**
   * The window's lower bound as configured (absent: no filter). `fullSync` keeps it, as
   * ex-storage does: it replaces only the primary key and the load mode.
   */
  readonly changedSince: ChangedSince | undefined;
  /** `--full-refresh` asked to ignore the watermark: a full export and a full load. */
  readonly fullRefresh: boolean;
  readonly extractMetadata: boolean;
  /** Output file name in out/tables (platform mode), `<name>.csv`. */
  readonly fileName: string;
  /** Full destination id when configured as one (manifest `destination`). */
  readonly destinationId: string | undefined;
  /** Destination table name without bucket. */
  readonly destinationName: string;
}

export interface Selection {
  /** `--table` values; empty means every enabled table. */
  readonly only: readonly string[];
  /** `--full-refresh` values. */
  readonly fullRefresh: readonly string[];
  readonly fullRefreshAll: boolean;
  /** `--shard`: only the tables of this shard, among those selected above. */
  readonly shard?: Shard | undefined;
}

const NO_SELECTION: Selection = { only: [], fullRefresh: [], fullRefreshAll: false };

/**
 * Resolves the configured tables against the source bucket's tables (pure).
 * Tables not selected by `--table` and disabled tables are left out: their state is kept. With
 * `--shard`, only the selected tables of that shard remain.
 * @throws UserError listing every problem at once (missing table, unknown column, unknown
 *   `--table` name, two tables writing to one output)
 */
export function planTables(
  config: Pick<Config, 'tables'> &
    Partial<Pick<Config, 'exclude' | 'source' | 'destination' | 'defaultBucket'>>,
  bucketId: string,
  bucketTables: readonly TableDetail[],
  selection: Selection = NO_SELECTION,
  warn: (warning: string) => void = () => undefined,
): TablePlan[] {
  const problems: string[] = [];
  const expanded = expandPatterns(
    config.tables,
    config.exclude ?? [],
    bucketId,
    bucketTables,
    configTokens(config),
  );
  expanded.warnings.forEach((warning) => warn(warning));
  const tables = expanded.tables;
  const buckets: Buckets = { source: bucketId, output: outputBucket(config) };
  checkSelectionNames(
    tables,
    buckets,
    [...selection.only, ...selection.fullRefresh],
    { exclude: config.exclude ?? [], patterns: config.tables.map((t) => t.name).filter(isPattern) },
    problems,
  );
  checkRefreshesSelected(tables, buckets, selection, problems);
  const plans: TablePlan[] = [];
  for (const entry of tables) {
    const { table } = entry;
    if (!isSelected(entry, buckets, selection.only)) continue;
    if (!table.enabled && selection.only.length === 0) continue;
    const plan = planTable(entry, buckets, bucketTables, selection, problems);
    if (plan) plans.push(plan);
  }
  checkDestinationsDistinct(tables, buckets.output, problems);
  checkWatermarksUnshared(
    tables.map((entry) => entry.table),
    bucketId,
    problems,
  );
  if (problems.length > 0) throw new UserError(shownProblems(problems).join(' '));
  // Every shard checks every table above, so a bad configuration fails all shards alike.
  const { shard } = selection;
  return shard ? plans.filter((plan) => inShard(plan.sourceId, shard)) : plans;
}

/**
 * The first {@link MAX_PROBLEMS_SHOWN} problems, then `and N more problems.`: a config of
 * thousands of missing tables would otherwise print megabytes as its one sentence.
 */
function shownProblems(problems: readonly string[]): readonly string[] {
  if (problems.length <= MAX_PROBLEMS_SHOWN) return problems;
  const more = problems.length - MAX_PROBLEMS_SHOWN;
  return [...problems.slice(0, MAX_PROBLEMS_SHOWN), `and ${more} more problems.`];
}

/** The source bucket (the token's) and the bucket short destination names go into, when known. */
interface Buckets {
  readonly source: string;
  readonly output: string | undefined;
}

/**
 * The bucket of short destination names: `destination.bucket` in standalone mode, else the
 * default bucket of platform mode when known (`storage.output.default_bucket`, or the runner's).
 */
function outputBucket(config: Partial<Pick<Config, 'destination' | 'defaultBucket'>>) {
  return config.destination?.bucket ?? config.defaultBucket;
}

/**
 * The config's tokens, whose values (and secret parts) no table name may hold: such a name would
 * put the secret into a file name, a state key and the logs (docs/configuration.md, Names).
 */
export function configTokens(config: Partial<Pick<Config, 'source' | 'destination'>>): string[] {
  return [config.source?.token, config.destination?.token].filter(
    (token): token is string => token !== undefined,
  );
}

/**
 * How many tables the configuration stands for in the bucket, its patterns expanded (pure): what
 * a run's "not selected or disabled" count is taken from.
 */
export function configuredTableCount(
  config: Pick<Config, 'tables'> & Partial<Pick<Config, 'exclude' | 'source' | 'destination'>>,
  bucketId: string,
  bucketTables: readonly TableDetail[],
): number {
  const { tables } = config;
  return expandPatterns(tables, config.exclude ?? [], bucketId, bucketTables, configTokens(config))
    .tables.length;
}

/** A configured table item, or one table a pattern item expanded to. */
export interface TableEntry {
  readonly table: TableConfig;
  /** Position of the item in `parameters.tables`. */
  readonly index: number;
  readonly pattern?: string | undefined;
}

/**
 * Expands pattern items against the bucket's tables, in name order (pure). Explicit items win over
 * patterns, the first matching pattern wins over later ones, and `exclude` removes tables from
 * pattern matches only (a table listed by name is always copied). A pattern that matches nothing
 * is a warning: a bucket may be empty for a while. A matched table whose name breaks Keboola's
 * naming rules ({@link unusableNameReason}) is skipped with a warning that names it masked.
 */
export function expandPatterns(
  tables: readonly TableConfig[],
  exclude: readonly string[],
  bucketId: string,
  bucketTables: readonly TableDetail[],
  secrets: readonly string[] = [],
): { tables: TableEntry[]; warnings: string[] } {
  const explicit = new Set(
    tables.filter((t) => !isPattern(t.name)).map((t) => shortTableName(t.name)),
  );
  const taken = new Set<string>();
  const names = bucketTables.map((t) => t.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: TableEntry[] = [];
  const warnings: string[] = [];
  tables.forEach((table, index) => {
    if (!isPattern(table.name)) {
      out.push({ table, index });
      return;
    }
    const pattern = table.name;
    const inBucket = pattern.includes('.') ? pattern.split('.').slice(0, 2).join('.') : bucketId;
    const matches = names.filter(
      (name) =>
        inBucket === bucketId &&
        matchesGlob(shortTableName(pattern), name) &&
        !explicit.has(name) &&
        !taken.has(name) &&
        !exclude.some((excluded) => matchesGlob(excluded, name)),
    );
    if (inBucket !== bucketId) {
      warnings.push(
        `The pattern "${pattern}" names the bucket "${inBucket}", but the source token reads only "${bucketId}": it matches no table.`,
      );
    } else if (matches.length === 0) {
      warnings.push(
        `The pattern "${pattern}" (tables[${index}]) matches no table of the bucket "${bucketId}"${exclude.length > 0 ? ' after exclude' : ''}.`,
      );
    }
    for (const name of matches) {
      taken.add(name);
      const unusable = unusableNameReason(name, secrets);
      if (unusable === undefined) out.push({ table: { ...table, name }, index, pattern });
      else warnings.push(skippedTableWarning(pattern, index, name, unusable, secrets));
    }
  });
  return { tables: out, warnings };
}

/**
 * Why a table name the source lists breaks Keboola's naming rules (docs/configuration.md, Names),
 * or undefined when it keeps them. Storage answers are not trusted to keep them: such a name would
 * reach a file name in out/tables, a state key and the logs, so it is never copied (pure).
 */
function unusableNameReason(name: string, secrets: readonly string[] = []): string | undefined {
  if (holdsSecret(name, secrets)) return 'holds a token of config.json or its secret part';
  if (checkNamePart(name, 'table name').ok) return undefined;
  if (looksLikeToken(name)) return 'looks like a Storage API token';
  if (name === '') return 'is empty';
  return `is not a valid table name (1 to ${MAX_NAME_LENGTH} letters, digits, "_" and "-")`;
}

/**
 * The bucket's tables whose names keep the naming rules, and a warning for each one left out
 * (pure): what the sync actions offer to pick from (docs/sync-actions.md).
 */
export function usableTables(
  tables: readonly TableDetail[],
  secrets: readonly string[] = [],
): {
  tables: TableDetail[];
  warnings: string[];
} {
  const warnings: string[] = [];
  const usable = tables.filter((table) => {
    const unusable = unusableNameReason(table.name, secrets);
    if (unusable !== undefined) {
      warnings.push(
        `The source table ${shownName(table.name, secrets)} is left out: its name ${unusable}.`,
      );
    }
    return unusable === undefined;
  });
  return { tables: usable, warnings };
}

function skippedTableWarning(
  pattern: string,
  index: number,
  name: string,
  why: string,
  secrets: readonly string[],
): string {
  return `The pattern "${pattern}" (tables[${index}]) skips the source table ${shownName(name, secrets)}: its name ${why}, so it never becomes a file name or a state key; rename the table in the source project to copy it.`;
}

/**
 * A name from a Storage answer, quoted for a message: token shapes and `secrets` hidden before it
 * is cut to at most 100 characters (a cut secret would no longer be recognised by the masker).
 */
function shownName(name: string, secrets: readonly string[]): string {
  const hidden = hideSecrets(name, secrets);
  const cut = hidden.length > 100 ? `${hidden.slice(0, 100)}…` : hidden;
  return `"${escapeForDisplay(cut)}"`;
}

function planTable(
  entry: TableEntry,
  buckets: Buckets,
  bucketTables: readonly TableDetail[],
  selection: Selection,
  problems: string[],
): TablePlan | undefined {
  const { table, index } = entry;
  const bucketId = buckets.source;
  const sourceName = sourceTableName(table.name, bucketId, problems);
  if (sourceName === undefined) return undefined;
  const source = bucketTables.find((t) => t.name === sourceName);
  if (!source) {
    const near = nearestName(
      sourceName,
      usableTables(bucketTables).tables.map((t) => t.name),
    );
    const hint = near === undefined ? '' : ` (did you mean "${near}"?)`;
    problems.push(`The table "${sourceName}" was not found in the bucket "${bucketId}"${hint}.`);
    return undefined;
  }
  const path = table.configPath ?? `parameters.tables[${index}]`;
  const columns = table.columns ? [...table.columns] : [...source.columns];
  missingColumns(columns, source).forEach((column) =>
    problems.push(`${path}.columns: the table "${source.id}" has no column "${column}".`),
  );
  const primaryKey =
    table.fullSync || table.primaryKey === 'source'
      ? [...source.primaryKey]
      : [...table.primaryKey];
  missingColumns(primaryKey, source).forEach((column) =>
    problems.push(
      `${path}.primaryKey: the table "${source.id}" has no column "${column}" (its columns: ${source.columns.join(', ')}).`,
    ),
  );
  const keyFrom = table.fullSync
    ? `${path}.columns: fullSync takes the source table's primary key, and its column`
    : table.primaryKey === 'source'
      ? `${path}.columns: primaryKey "source" takes the source table's primary key, and its column`
      : `${path}.primaryKey: the key column`;
  primaryKey
    .filter((column) => source.columns.includes(column) && !columns.includes(column))
    .forEach((column) =>
      problems.push(
        `${keyFrom} "${column}" is not among the copied columns (${columns.join(', ')}); add it to "columns".`,
      ),
    );
  const fullRefresh = selection.fullRefreshAll || matchesAny(entry, buckets, selection.fullRefresh);
  const incremental = table.incremental && !table.fullSync && !fullRefresh;
  const destination = splitDestination(table.destination, source.name);
  return {
    index,
    configName: table.name,
    pattern: entry.pattern,
    sourceId: source.id,
    source,
    columns,
    primaryKey,
    keyFrom: table.fullSync ? 'fullSync' : table.primaryKey === 'source' ? 'source' : 'configured',
    incremental,
    mode: loadMode(incremental, primaryKey),
    configuredMode: loadMode(table.incremental && !table.fullSync, primaryKey),
    changedSince: table.changedSince,
    fullRefresh,
    extractMetadata: table.extractMetadata,
    // A full destination id names the file too: the manifest's `destination` decides where it goes,
    // and two full ids with the same table name must not share one output file.
    fileName: `${destination.id ?? destination.name}.csv`,
    destinationId: destination.id,
    destinationName: destination.name,
  };
}

/**
 * The destination a table's state entry records (docs/state-file.md, Shape): in standalone mode
 * the destination table id; in platform mode the full id when the item names one or the default
 * bucket is known (`storage.output.default_bucket`, or the runner's), so that a short name and
 * its full id are the same destination; else the out/tables file.
 */
export function destinationOfRecord(
  plan: Pick<TablePlan, 'destinationId' | 'destinationName' | 'fileName'>,
  config: {
    readonly destination?: Pick<DestinationConfig, 'bucket'>;
    readonly defaultBucket?: string;
  },
): string {
  const { destination, defaultBucket } = config;
  return destinationLabel(
    plan,
    destination ?? (defaultBucket === undefined ? undefined : { bucket: defaultBucket }),
  );
}

/** false → full load; true → append, or upsert when a primary key is set (docs/storage-api-notes.md, How a load lands). */
function loadMode(incremental: boolean, primaryKey: readonly string[]): LoadMode {
  if (!incremental) return 'full';
  return primaryKey.length > 0 ? 'upsert' : 'append';
}

/**
 * The table name inside the token's bucket of a configured `name` (a bare name, or a full id in
 * that bucket); a full id elsewhere is a problem, and undefined.
 */
export function sourceTableName(
  name: string,
  bucketId: string,
  problems: string[],
): string | undefined {
  const parts = name.split('.');
  if (parts.length === 1) return name;
  const tableBucket = parts.slice(0, 2).join('.');
  if (parts.length !== 3 || tableBucket !== bucketId) {
    problems.push(
      `The table "${name}" is not in the bucket "${bucketId}", the only bucket the source token can read.`,
    );
    return undefined;
  }
  return parts[2];
}

function splitDestination(
  destination: string | undefined,
  sourceName: string,
): { id: string | undefined; name: string } {
  if (!destination) return { id: undefined, name: sourceName };
  const parts = destination.split('.');
  return parts.length === 3
    ? { id: destination, name: parts[2] ?? sourceName }
    : { id: undefined, name: destination };
}

function missingColumns(columns: readonly string[], source: TableDetail): string[] {
  return columns.filter((column) => !source.columns.includes(column));
}

function isSelected(entry: TableEntry, buckets: Buckets, only: readonly string[]): boolean {
  return only.length === 0 || matchesAny(entry, buckets, only);
}

/**
 * `--table` matches the configured name, the bare table name, the source table id, the
 * destination as configured or as the job shows it (the destination table id; in platform mode
 * also the out/tables file), or the pattern (docs/standalone.md, Per-table reruns).
 */
function matchesAny(entry: TableEntry, buckets: Buckets, names: readonly string[]): boolean {
  return names.some((name) => matchKind(entry, buckets, name) !== undefined);
}

/** How `name` names the item: by its source (name, id or pattern) or by its destination. */
function matchKind(
  entry: TableEntry,
  buckets: Buckets,
  name: string,
): 'source' | 'destination' | undefined {
  const { table } = entry;
  const bare = shortTableName(table.name);
  if ([table.name, bare, `${buckets.source}.${bare}`, entry.pattern].includes(name)) {
    return 'source';
  }
  const destination = entryDestination(entry);
  const destinations = [
    table.destination,
    destinationTableId(destination, buckets.output),
    `out/tables/${destination}.csv`,
  ];
  return destinations.includes(name) ? 'destination' : undefined;
}

/** The destination as configured, else the source table's name (a pattern's match included). */
function entryDestination(entry: TableEntry): string {
  return entry.table.destination ?? shortTableName(entry.table.name);
}

function checkSelectionNames(
  tables: readonly TableEntry[],
  buckets: Buckets,
  names: readonly string[],
  configured: { readonly exclude: readonly string[]; readonly patterns: readonly string[] },
  problems: string[],
): void {
  const { exclude, patterns } = configured;
  const bucketId = buckets.source;
  for (const name of new Set(names)) {
    // A pattern that matches nothing now is a warning of its own, as in a run without --table.
    if (patterns.includes(name)) continue;
    checkUnambiguous(tables, buckets, name, problems);
    if (!tables.some((t) => matchesAny(t, buckets, [name]))) {
      const bare = name.startsWith(`${bucketId}.`) ? name.slice(bucketId.length + 1) : name;
      const excludedBy = exclude.find((pattern) => matchesGlob(pattern, bare));
      if (excludedBy !== undefined) {
        problems.push(
          `The table "${name}" is left out by parameters.exclude ("${excludedBy}"): remove it from exclude to copy it.`,
        );
        continue;
      }
      const configured = tables.map((t) => t.table.name);
      const near = nearestName(name, configured);
      const hint = near === undefined ? '' : `; did you mean "${near}"?`;
      problems.push(
        `No configured table is named "${name}" (configured: ${configured.join(', ') || 'none'}${hint}).`,
      );
    }
  }
}

/**
 * One name that picks one item by its source and another by its destination (`orders`, when
 * another item writes into a destination called `orders`) would run, or fully refresh, a table
 * the user did not mean; the run stops and asks for a name that says which.
 */
function checkUnambiguous(
  tables: readonly TableEntry[],
  buckets: Buckets,
  name: string,
  problems: string[],
): void {
  const source = tables.find((t) => matchKind(t, buckets, name) === 'source');
  const destination = tables.find((t) => matchKind(t, buckets, name) === 'destination');
  if (!source || !destination) return;
  const sourceId = `${buckets.source}.${shortTableName(source.table.name)}`;
  const destinationId = destinationTableId(entryDestination(destination), buckets.output);
  problems.push(
    `"${name}" names both the source table of ${describeEntry(source)} and the destination of ${describeEntry(destination)}: name the source table id "${sourceId}" or the destination "${destinationId}" instead.`,
  );
}

/**
 * `--full-refresh NAME` of a table this run leaves out (one that `--table` does not select, or a
 * disabled one without `--table`) would silently refresh nothing.
 */
function checkRefreshesSelected(
  tables: readonly TableEntry[],
  buckets: Buckets,
  selection: Selection,
  problems: string[],
): void {
  const runs = (entry: TableEntry) =>
    selection.only.length === 0 ? entry.table.enabled : isSelected(entry, buckets, selection.only);
  for (const name of new Set(selection.fullRefresh)) {
    const named = tables.filter((t) => matchesAny(t, buckets, [name]));
    if (named.length === 0 || named.some(runs)) continue;
    problems.push(
      selection.only.length === 0
        ? `--full-refresh "${name}" names a disabled table, so nothing would be refreshed; add --table "${name}" to run it anyway, or enable it.`
        : `--full-refresh "${name}" names a table that --table does not select, so nothing would be refreshed; add --table "${name}" or leave the refresh out.`,
    );
  }
}

/**
 * State is keyed by source table id (docs/standalone.md, Incremental windows). A source table configured more than once (to two
 * destinations) would share one entry, so a `lastRun` watermark of one copy would move the window
 * of the other: rows lost or read twice. Such configurations are refused; a second copy belongs in
 * its own configuration row, which has its own state. Disabled copies count: `--table` runs them,
 * and a disabled copy run once rewrote the entry, so the enabled copy's next run took its
 * destination as moved and appended every row again.
 */
function checkWatermarksUnshared(
  tables: readonly TableConfig[],
  bucketId: string,
  problems: string[],
): void {
  const bySource = new Map<string, number[]>();
  tables.forEach((table, index) => {
    const sourceId = `${bucketId}.${shortTableName(table.name)}`;
    bySource.set(sourceId, [...(bySource.get(sourceId) ?? []), index]);
  });
  for (const [sourceId, indexes] of bySource) {
    if (indexes.length < 2) continue;
    if (!indexes.some((i) => tables[i]?.changedSince?.kind === 'lastRun')) continue;
    const where = indexes.map((i) => `tables[${i}]`).join(' and ');
    problems.push(
      `The table "${sourceId}" is configured more than once (${where}) with changedSince "lastRun": the copies would share one saved watermark and lose or repeat rows. Copy it to the other destination from its own configuration row (each row keeps its own state), or give the other copies a fixed changedSince.`,
    );
  }
}

/**
 * No two items write into one destination table (docs/configuration.md, Table item), checked over
 * every table the items stand for, patterns expanded, whether this run selects it or not: a short
 * name is the table of that name in `outputBucket` when it is known, and ids that differ only in
 * case are one table, as in Keboola. Without a known bucket the destinations are compared as
 * written, which also keeps two items from writing one out/tables file.
 */
function checkDestinationsDistinct(
  tables: readonly TableEntry[],
  outputBucket: string | undefined,
  problems: string[],
): void {
  const first = new Map<string, { entry: TableEntry; target: string }>();
  for (const entry of tables) {
    const target = destinationTableId(entryDestination(entry), outputBucket);
    const earlier = first.get(tableIdKey(target));
    if (earlier === undefined) {
      first.set(tableIdKey(target), { entry, target });
      continue;
    }
    const spelled = earlier.target === target ? '' : ` (also written "${target}")`;
    problems.push(
      `The items ${describeEntry(earlier.entry)} and ${describeEntry(entry)} both write into the destination table "${earlier.target}"${spelled}: give one of them another "destination".`,
    );
  }
}

/** `parameters.tables[1] ("returns")`, or with the pattern that picked the table up. */
function describeEntry(entry: TableEntry): string {
  const path = entry.table.configPath ?? `parameters.tables[${entry.index}]`;
  return entry.pattern === undefined
    ? `${path} ("${entry.table.name}")`
    : `${path} (the pattern "${entry.pattern}", table "${entry.table.name}")`;
}

/**
 * A planned table, or one of its columns, gone during the run: the table the user named was in
 * the bucket when the run was planned, and a 404 on it (deleted or renamed meanwhile), or the
 * export's `storage.tables.validation.columnNotExists` (a column dropped meanwhile), is something
 * the user fixes (exit 1), not a fault of the job. Any other error is returned as it is.
 */
export function explainMissingTable(error: unknown, sourceId: string): unknown {
  if (!(error instanceof StorageApiError)) return error;
  if (error.details.status === 404) {
    return new UserError(
      `The table "${sourceId}" was not found in the source project during its export (deleted or renamed during the run?): check the table name and run again.`,
    );
  }
  if (error.details.code === COLUMN_NOT_EXISTS) {
    return new UserError(
      `The export of "${sourceId}" was refused because a column it names is no longer in the table (changed during the run?): check the table's columns and its configured columns, and run again.`,
    );
  }
  return error;
}

/** The Storage API's code for an export that names a column the table lacks. */
const COLUMN_NOT_EXISTS = 'storage.tables.validation.columnNotExists';

/**
 * Where a planned table lands, for the plan document, the progress lines and the summary: the
 * destination table id when the item names one, else `bucket.name` in standalone mode, else the
 * platform-mode file `out/tables/<name>.csv` (which the output mapping loads).
 */
export function destinationLabel(
  plan: Pick<TablePlan, 'destinationId' | 'destinationName' | 'fileName'>,
  destination: Pick<DestinationConfig, 'bucket'> | undefined,
): string {
  if (plan.destinationId !== undefined) return plan.destinationId;
  return destination
    ? `${destination.bucket}.${plan.destinationName}`
    : `out/tables/${plan.fileName}`;
}

/**
 * What the table's load settings will do that a user may not expect: duplicates in an append
 * that re-reads rows, a full load that keeps only the window (pure). `plan` shows them, and a run
 * logs them as warnings.
 */
export function loadWarnings(plan: TablePlan): string[] {
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
