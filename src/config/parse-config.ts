/**
 * config.json → {@link Config} (docs/configuration.md). Root keys are read leniently (the runner adds keys);
 * `parameters` strictly: every problem is reported at once as `parameters.path: what is wrong and
 * how to fix it`. Pure, never throws, and no message contains a `#` value.
 */
import { nearestName } from '../text/nearest.js';
import { ACTIONS } from './action-names.js';
import { describeJsonType, parseChangedSince } from './changed-since.js';
import {
  BAD,
  type Read,
  isPlainObject,
  own,
  readFlag,
  readNameList,
  readEndpoint,
  refuseSecretName,
  readLagSeconds,
  readParallelism,
  readString,
} from './fields.js';
import { isPattern } from './glob.js';
import {
  checkBucketId,
  checkTableRef,
  destinationTableId,
  shortTableName,
  tableIdKey,
  type NameCheck,
} from './names.js';
import { type Path, Problems } from './problems.js';
import { hashValues, looksLikeToken } from '../secrets.js';
import { UserError } from '../errors.js';
import {
  DATA_TYPE_SUPPORTS,
  type ChangedSince,
  type Config,
  type DataTypeSupport,
  type DestinationConfig,
  type ParseResult,
  type TableConfig,
} from './types.js';

/** ex-storage's single-table keys at the root of `parameters` (one configuration row). */
export const EX_STORAGE_KEYS = [
  'tableName',
  'changedSince',
  'incremental',
  'primaryKey',
  'fullSync',
  'extractMetadata',
] as const;
export const PARAMETER_KEYS = [
  '#token',
  'region',
  'url',
  'tables',
  'exclude',
  'destination',
  'parallelism',
  'lagSeconds',
  'debug',
  ...EX_STORAGE_KEYS,
  'columns',
  'enabled',
] as const;
/** The Test Connection button of component.json's root form: it holds no setting, so it is ignored. */
export const IGNORED_UI_KEYS = ['test_connection'] as const;
const TABLE_KEYS = [
  'name',
  'destination',
  'changedSince',
  'incremental',
  'primaryKey',
  'fullSync',
  'columns',
  'extractMetadata',
  'enabled',
] as const;
const DESTINATION_KEYS = ['region', 'url', '#token', 'bucket'] as const;

export const DEFAULT_PARALLELISM = 4;
/**
 * How far behind the Storage server's now a `lastRun` window ends: longer than a load into a
 * source table usually takes between stamping its rows and committing them (docs/standalone.md,
 * Incremental windows).
 */
export const DEFAULT_LAG_SECONDS = 300;

type Params = Readonly<Record<string, unknown>>;

/** The source project's keys: all that `list`, `info`, `sourceInfo` and `testConnection` read. */
const SOURCE_KEYS = ['#token', 'region', 'url', 'debug'];
/** What the row form's pickers read: the source credentials and the table (docs/sync-actions.md). */
const PICKER_KEYS = [...SOURCE_KEYS, 'tableName', 'tables'];
/** The `parameters` keys each sync action reads; the other actions (`run`, `plan`) read them all. */
const KEYS_READ_BY_ACTION: Readonly<Partial<Record<string, readonly string[]>>> = {
  list: SOURCE_KEYS,
  info: SOURCE_KEYS,
  sourceInfo: SOURCE_KEYS,
  testConnection: SOURCE_KEYS,
  tableOptions: PICKER_KEYS,
  columnOptions: PICKER_KEYS,
};

/**
 * The config as `action` sees it (pure): for a sync action that reads only some keys, `parameters`
 * cut to those, so a half-typed or broken other field (a `changedSince`, a key) does not turn the
 * action into that field's error, and the user can still open the table picker to fix the row.
 * `run` and `plan` get the config unchanged.
 */
export function configForAction(raw: unknown, action: string): unknown {
  const keys = KEYS_READ_BY_ACTION[action];
  if (keys === undefined || !isPlainObject(raw)) return raw;
  const params = own(raw, 'parameters');
  if (!isPlainObject(params)) return raw;
  const kept = keys.filter((key) => Object.hasOwn(params, key));
  return { ...raw, parameters: Object.fromEntries(kept.map((key) => [key, params[key]])) };
}

/** Validates a raw config.json value. See the module comment for the contract. */
export function parseConfig(raw: unknown): ParseResult {
  if (!isPlainObject(raw)) {
    return fail([
      `parameters: is missing; config.json must be a JSON object with a "parameters" object, not ${describeJsonType(raw)}`,
    ]);
  }
  const problems = new Problems(hashValues(raw));
  const action = readAction(own(raw, 'action'), problems);
  const params = readParametersObject(own(raw, 'parameters'), problems);
  if (params === BAD) return fail(problems.lines);

  checkKnownKeys(params, PARAMETER_KEYS, ['parameters'], problems);
  const source = readEndpoint(params, ['parameters'], 'source project', problems);
  const tables = readTables(params, action, problems);
  const exclude = readPatternList(own(params, 'exclude'), ['parameters', 'exclude'], problems);
  const rootDestination = own(params, 'destination');
  // A string is the single-table form's destination table (read with the table); an object is
  // standalone mode's destination project.
  const destination =
    typeof rootDestination === 'string' ? undefined : readDestination(rootDestination, problems);
  const parallelism = readParallelism(
    own(params, 'parallelism'),
    ['parameters', 'parallelism'],
    problems,
  );
  const lagSeconds = readLagSeconds(
    own(params, 'lagSeconds'),
    ['parameters', 'lagSeconds'],
    problems,
  );
  const debug = readFlag(own(params, 'debug'), false, ['parameters', 'debug'], problems);
  const dataTypeSupport = readDataTypeSupport(own(raw, 'storage'), problems);
  const defaultBucket = readDefaultBucket(own(raw, 'storage'), problems);
  if (tables !== BAD) {
    const bucket = destination === BAD ? undefined : destination?.bucket;
    const outputBucket = bucket ?? (defaultBucket === BAD ? undefined : defaultBucket);
    checkDistinctDestinations(tables, outputBucket, ['parameters', 'tables'], problems);
  }
  if (
    problems.count > 0 ||
    action === BAD ||
    source === BAD ||
    tables === BAD ||
    exclude === BAD ||
    destination === BAD ||
    parallelism === BAD ||
    lagSeconds === BAD ||
    debug === BAD ||
    dataTypeSupport === BAD ||
    defaultBucket === BAD
  ) {
    return fail(problems.lines);
  }
  const config: Config = {
    action,
    source,
    tables,
    exclude: exclude ?? [],
    ...(destination === undefined ? {} : { destination }),
    parallelism: parallelism ?? DEFAULT_PARALLELISM,
    lagSeconds: lagSeconds ?? DEFAULT_LAG_SECONDS,
    debug,
    ...(defaultBucket === undefined ? {} : { defaultBucket }),
    ...(dataTypeSupport === undefined ? {} : { dataTypeSupport }),
  };
  return { ok: true, config };
}

function fail(problems: readonly string[]): ParseResult {
  return { ok: false, problems };
}

/** Root `action`: default `run`; a sync action name otherwise. */
function readAction(value: unknown, problems: Problems): string | typeof BAD {
  if (value === undefined) return 'run';
  if (typeof value === 'string' && (ACTIONS as readonly string[]).includes(value)) return value;
  const shown = typeof value === 'string' ? problems.quote(value) : describeJsonType(value);
  problems.add(['action'], `${shown} is not a known action; use one of ${ACTIONS.join(', ')}`);
  return BAD;
}

/** `parameters`: an object; absent or `[]` (PHP's empty object) reads as `{}`. */
function readParametersObject(value: unknown, problems: Problems): Params | typeof BAD {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return {};
  if (isPlainObject(value)) return value;
  problems.add(
    ['parameters'],
    `must be an object with "#token", "region" or "url", and the tables; not ${describeJsonType(value)}`,
  );
  return BAD;
}

/**
 * The default bucket the Keboola runner gives a configuration's short output names when
 * config.json sets none: `in.c-<component id, each character outside [A-Za-z0-9-] as "-">-<config
 * id>` from `KBC_COMPONENTID` and `KBC_CONFIGID` (docs/output-manifests.md). Undefined outside
 * the runner (pure).
 */
export function runnerDefaultBucket(
  env: {
    readonly KBC_COMPONENTID?: string | undefined;
    readonly KBC_CONFIGID?: string | undefined;
  },
  raw?: unknown,
): string | undefined {
  const component = env.KBC_COMPONENTID;
  const configId = env.KBC_CONFIGID;
  if (!component || !configId) return undefined;
  // The bucket goes unmasked into table ids, manifests and state keys, as a configured one does.
  const problems = new Problems(hashValues(raw));
  for (const [name, value] of [
    ['KBC_COMPONENTID', component],
    ['KBC_CONFIGID', configId],
  ] as const) {
    if (problems.holdsSecret(value) || looksLikeToken(value)) {
      throw new UserError(
        `${name} holds a secret of config.json (a "#" value, or the part of a token after its two ids) or looks like a token, and it names the default bucket, which ends up in table ids, manifests and state keys: set it to the component or configuration id.`,
      );
    }
  }
  return `in.c-${component.replace(/[^A-Za-z0-9-]/g, '-')}-${configId}`;
}

/**
 * `storage.output.default_bucket`, when the runner set one (lenient: anything but a string is
 * ignored). A bucket that holds a secret or looks like a token is refused: it becomes part of
 * every short destination's table id and state key (docs/configuration.md, Names).
 */
function readDefaultBucket(storage: unknown, problems: Problems): Read<string> {
  if (!isPlainObject(storage)) return undefined;
  const output = own(storage, 'output');
  if (!isPlainObject(output)) return undefined;
  const bucket = own(output, 'default_bucket');
  if (typeof bucket !== 'string' || bucket === '') return undefined;
  const path = ['storage', 'output', 'default_bucket'];
  return refuseSecretName(bucket, 'bucket', path, problems, BUCKET_ENDS_UP_IN) ? BAD : bucket;
}

/** Where a bucket id goes unmasked (for {@link refuseSecretName}). */
const BUCKET_ENDS_UP_IN = 'table ids and state keys';

/**
 * `storage.output.data_type_support`: absent or null when not set; otherwise one of
 * {@link DATA_TYPE_SUPPORTS}. The rest of `storage` stays lenient (the runner owns it), but a
 * value here chooses the manifest format, so a wrong one is an error, not a silent default.
 */
function readDataTypeSupport(
  storage: unknown,
  problems: Problems,
): DataTypeSupport | undefined | typeof BAD {
  if (!isPlainObject(storage)) return undefined;
  const output = own(storage, 'output');
  if (!isPlainObject(output)) return undefined;
  const value = own(output, 'data_type_support');
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && (DATA_TYPE_SUPPORTS as readonly string[]).includes(value)) {
    return value as DataTypeSupport;
  }
  const shown = typeof value === 'string' ? problems.quote(value) : describeJsonType(value);
  problems.add(
    ['storage', 'output', 'data_type_support'],
    `${shown} is not a data type support; use one of ${DATA_TYPE_SUPPORTS.join(', ')}, or leave it out`,
  );
  return BAD;
}

/** Rule: every key is known; the message lists the known keys and suggests a near match. */
function checkKnownKeys(
  object: Params,
  known: readonly string[],
  path: Path,
  problems: Problems,
): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    if (path.length === 1 && (IGNORED_UI_KEYS as readonly string[]).includes(key)) continue;
    const near = nearestName(key, known);
    const hint = near === undefined ? '' : ` (did you mean "${near}"?)`;
    const where = tableOnlyHint(key, path);
    problems.add(
      [...path, key],
      `is not a known key${hint}${where}; known keys: ${known.join(', ')}`,
    );
  }
}

function tableOnlyHint(key: string, path: Path): string {
  const isRoot = path.length === 1;
  const tableOnly = (TABLE_KEYS as readonly string[]).includes(key);
  return isRoot && tableOnly ? `; "${key}" belongs in an item of "tables"` : '';
}

/** `parameters.destination`: standalone mode's destination project and bucket. */
function readDestination(value: unknown, problems: Problems): Read<DestinationConfig> {
  const path = ['parameters', 'destination'];
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    problems.add(
      path,
      `must be an object {"region" or "url", "#token", "bucket"} naming the destination project, not ${describeJsonType(value)}; a table's destination name goes into an item of "tables"`,
    );
    return BAD;
  }
  checkKnownKeys(value, DESTINATION_KEYS, path, problems);
  const endpoint = readEndpoint(value, path, 'destination project', problems);
  const bucket = readBucket(own(value, 'bucket'), [...path, 'bucket'], problems);
  if (endpoint === BAD || bucket === BAD) return BAD;
  return { ...endpoint, bucket };
}

function readBucket(value: unknown, path: Path, problems: Problems): string | typeof BAD {
  const howTo = 'a bucket id such as "in.c-copy" (stage in or out, a dot, the bucket name)';
  if (value === undefined) {
    problems.add(path, `is required: set ${howTo}`);
    return BAD;
  }
  if (typeof value !== 'string') {
    problems.add(path, `must be ${howTo}, not ${describeJsonType(value)}`);
    return BAD;
  }
  const check = checkBucketId(value, ['in', 'out']);
  if (check.ok) {
    return refuseSecretName(value, 'bucket', path, problems, BUCKET_ENDS_UP_IN) ? BAD : value;
  }
  problems.add(
    path,
    check.shape === true ? `must be ${howTo}` : `${problems.quote(value)} ${check.why}`,
  );
  return BAD;
}

/**
 * The tables to copy: the `tables` list, or ex-storage's single-table keys. For `run` at least one
 * table is required; sync actions accept none.
 */
function readTables(
  params: Params,
  action: string | typeof BAD,
  problems: Problems,
): readonly TableConfig[] | typeof BAD {
  const list = own(params, 'tables');
  const singleKeys = EX_STORAGE_KEYS.filter((key) => Object.hasOwn(params, key));
  if (list !== undefined && typeof own(params, 'destination') === 'string') {
    problems.add(
      ['parameters', 'destination'],
      'must be an object {"region" or "url", "#token", "bucket"} naming the destination project, not a string; a table\'s destination name goes into an item of "tables"',
    );
  }
  if (list !== undefined) {
    for (const key of ['columns', 'enabled'].filter((k) => Object.hasOwn(params, k))) {
      problems.add(
        ['parameters', key],
        `belongs in an item of "tables"; at the root "${key}" is only for the single-table form with "tableName"`,
      );
    }
  }
  if (list !== undefined && singleKeys.length > 0) {
    problems.add(
      ['parameters'],
      `use either "tables" or the single-table keys (${singleKeys.join(', ')}), not both`,
    );
  }
  const tables =
    list === undefined ? readSingleTable(params, problems) : readTableList(list, problems);
  if (tables === BAD) return BAD;
  if (action === 'run' && tables.length === 0) {
    reportNoTables(params, singleKeys.length > 0, problems);
    return BAD;
  }
  return tables;
}

function reportNoTables(params: Params, singleForm: boolean, problems: Problems): void {
  if (singleForm) {
    const state = own(params, 'tableName') === undefined ? 'is missing' : 'is empty';
    problems.add(
      ['parameters', 'tableName'],
      `${state}; action "run" needs a table: name it (e.g. "orders"), or list tables in "tables"`,
    );
  } else if (own(params, 'tables') === undefined) {
    problems.add(
      ['parameters', 'tables'],
      'is missing; action "run" needs at least one table, e.g. "tables": [{"name": "orders"}] (or set "tableName")',
    );
  } else {
    problems.add(
      ['parameters', 'tables'],
      'is empty; action "run" needs at least one table, e.g. [{"name": "orders"}]',
    );
  }
}

/**
 * ex-storage form (one configuration row): `tableName` `""` (its default) means no table. The row
 * form adds `destination` (a string), `columns` and `enabled`; empty values mean "not set".
 */
function readSingleTable(params: Params, problems: Problems): readonly TableConfig[] | typeof BAD {
  const path = ['parameters'];
  const tableName = own(params, 'tableName');
  const name =
    tableName === '' ? undefined : readTableName(tableName, [...path, 'tableName'], problems);
  const rawDestination = own(params, 'destination');
  const destination =
    typeof rawDestination === 'string' && rawDestination !== ''
      ? readTableDestination(rawDestination, [...path, 'destination'], problems)
      : undefined;
  const options = readTableOptions(params, path, problems);
  const rawColumns = own(params, 'columns');
  const columns =
    Array.isArray(rawColumns) && rawColumns.length === 0
      ? undefined
      : readNameList(rawColumns, 'column', [...path, 'columns'], problems);
  const enabled = readFlag(own(params, 'enabled'), true, [...path, 'enabled'], problems);
  if (name === BAD || options === BAD || destination === BAD) return BAD;
  if (columns === BAD || enabled === BAD) return BAD;
  if (columns !== undefined && !checkColumns(columns, options, path, problems)) return BAD;
  if (name === undefined) return [];
  if (destination !== undefined && !checkPatternDestination(name, path, problems)) return BAD;
  return [
    {
      name,
      ...(destination === undefined ? {} : { destination }),
      ...options,
      ...(columns === undefined ? {} : { columns }),
      enabled,
      configPath: 'parameters',
    },
  ];
}

/** Rule: a pattern stands for many tables, so it cannot name one destination table. */
function checkPatternDestination(name: string, path: Path, problems: Problems): boolean {
  if (!isPattern(name)) return true;
  problems.add(
    [...path, 'destination'],
    `cannot be set for the pattern ${problems.quote(name)}: its tables keep their own names; list a table on its own to rename it`,
  );
  return false;
}

/** `parameters.exclude`: table-name patterns, e.g. ["tmp_*", "audit"]. */
function readPatternList(value: unknown, path: Path, problems: Problems): Read<readonly string[]> {
  return readNameList(value, 'table name or pattern', path, problems);
}

function readTableList(value: unknown, problems: Problems): readonly TableConfig[] | typeof BAD {
  const path = ['parameters', 'tables'];
  if (!Array.isArray(value)) {
    problems.add(
      path,
      `must be a list of tables such as [{"name": "orders"}], not ${describeJsonType(value)}`,
    );
    return BAD;
  }
  const tables = value.map((item, index) => readTableItem(item, [...path, index], problems));
  const valid = tables.filter((table): table is TableConfig => table !== BAD);
  return valid.length === tables.length ? valid : BAD;
}

function readTableItem(value: unknown, path: Path, problems: Problems): TableConfig | typeof BAD {
  if (!isPlainObject(value)) {
    problems.add(
      path,
      `must be an object such as {"name": "orders"}, not ${describeJsonType(value)}`,
    );
    return BAD;
  }
  checkKnownKeys(value, TABLE_KEYS, path, problems);
  const name = readTableName(own(value, 'name'), [...path, 'name'], problems);
  const destination = readTableDestination(
    own(value, 'destination'),
    [...path, 'destination'],
    problems,
  );
  const options = readTableOptions(value, path, problems);
  const columns = readNameList(own(value, 'columns'), 'column', [...path, 'columns'], problems);
  const enabled = readFlag(own(value, 'enabled'), true, [...path, 'enabled'], problems);
  if (name === undefined)
    problems.add([...path, 'name'], 'is required: the table to copy, e.g. "orders"');
  if (name === BAD || name === undefined || destination === BAD || options === BAD) return BAD;
  if (columns === BAD || enabled === BAD) return BAD;
  if (columns !== undefined && !checkColumns(columns, options, path, problems)) return BAD;
  if (destination !== undefined && !checkPatternDestination(name, path, problems)) return BAD;
  return {
    name,
    ...(destination === undefined ? {} : { destination }),
    ...options,
    ...(columns === undefined ? {} : { columns }),
    enabled,
  };
}

type TableOptions = Omit<TableConfig, 'name' | 'destination' | 'columns' | 'enabled'>;

/** The keys both forms share: changedSince, incremental, primaryKey, fullSync, extractMetadata. */
function readTableOptions(
  object: Params,
  path: Path,
  problems: Problems,
): TableOptions | typeof BAD {
  const flag = (key: string, into = problems): boolean | typeof BAD =>
    readFlag(own(object, key), false, [...path, key], into);
  const changedSince = readChangedSince(
    own(object, 'changedSince'),
    [...path, 'changedSince'],
    problems,
  );
  const fullSync = flag('fullSync');
  // With fullSync the key comes from the source table and the load is a full one, so
  // `primaryKey` and `incremental` are ignored (docs/configuration.md): a value that could not be
  // used, which ex-storage ran as well, is dropped instead of stopping the run.
  const ignored = fullSync === true;
  const into = ignored ? new Problems([]) : problems;
  const incremental = orIgnored(flag('incremental', into), ignored, false);
  const rawPrimaryKey = own(object, 'primaryKey');
  const primaryKey = orIgnored(
    rawPrimaryKey === 'source'
      ? 'source'
      : readNameList(rawPrimaryKey, 'column', [...path, 'primaryKey'], into),
    ignored,
    [],
  );
  const extractMetadata = flag('extractMetadata');
  if (changedSince === BAD || primaryKey === BAD) return BAD;
  if (incremental === BAD || fullSync === BAD || extractMetadata === BAD) return BAD;
  return {
    ...(changedSince === undefined ? {} : { changedSince }),
    incremental,
    primaryKey: primaryKey ?? [],
    fullSync,
    extractMetadata,
  };
}

/** `fallback` in place of a value that could not be read but is ignored anyway. */
function orIgnored<T>(value: T | typeof BAD, ignored: boolean, fallback: T): T | typeof BAD {
  return value === BAD && ignored ? fallback : value;
}

function readChangedSince(value: unknown, path: Path, problems: Problems): Read<ChangedSince> {
  const result = parseChangedSince(value, (text) => problems.quote(text));
  if (result.ok) return result.value;
  problems.add(path, result.message);
  return BAD;
}

/** Rule: a table name (`orders`) or a full table id (`in.c-sales.orders`), by Keboola's naming rules. */
function readTableName(value: unknown, path: Path, problems: Problems): Read<string> {
  const name = readString(value, '"orders"', path, problems);
  if (name === BAD || name === undefined) return name;
  const hint = 'is neither a table name nor a full table id; use "orders" or "in.c-sales.orders"';
  // A pattern (`*`, `sales_*`) follows the same rules with its wildcards standing for a character.
  const asName = isPattern(name) ? name.replace(/[*?]/g, 'x') : name;
  const checkedName = checked(
    name,
    checkTableRef(asName, ['in', 'out', 'sys'], hint),
    path,
    problems,
  );
  return checkedName === BAD || refuseSecretName(name, 'table', path, problems) ? BAD : name;
}

/** Rule: a short name or a full id `stage.c-bucket.table` (stage in or out), by the naming rules. */
function readTableDestination(value: unknown, path: Path, problems: Problems): Read<string> {
  const destination = readString(value, '"orders" or "in.c-copy.orders"', path, problems);
  if (destination === BAD || destination === undefined) return destination;
  const hint = 'is neither a table name (no dots) nor a full table id such as "in.c-copy.orders"';
  const checkedName = checked(
    destination,
    checkTableRef(destination, ['in', 'out'], hint),
    path,
    problems,
  );
  return checkedName === BAD || refuseSecretName(destination, 'table', path, problems)
    ? BAD
    : destination;
}

function checked(text: string, check: NameCheck, path: Path, problems: Problems): Read<string> {
  if (check.ok) return text;
  problems.add(path, `${problems.quote(text)} ${check.why}`);
  return BAD;
}

/** Rule: when `columns` is given, the primary key is among them (unless fullSync ignores it). */
function checkColumns(
  columns: readonly string[],
  options: TableOptions,
  path: Path,
  problems: Problems,
): boolean {
  if (columns.length === 0) {
    problems.add(
      [...path, 'columns'],
      'is empty; list the columns to copy, or leave it out to copy all',
    );
    return false;
  }
  if (options.fullSync || options.primaryKey === 'source') return true;
  const missing = options.primaryKey.filter((column) => !columns.includes(column));
  if (missing.length === 0) return true;
  problems.add(
    [...path, 'primaryKey'],
    `${missing.map((column) => problems.quote(column)).join(', ')} not in "columns"; every primary key column must be copied`,
  );
  return false;
}

/**
 * Rule: no two tables write into the same destination table (docs/configuration.md, Table item).
 * A short name is the table of that name in `bucket` when the bucket is known here
 * (`destination.bucket`, else `storage.output.default_bucket`), so `orders` and the full id in that
 * bucket are one table; ids that differ only in case are one table too, as in Keboola. The
 * runner's own default bucket and the tables that patterns expand to are known only when the
 * tables are planned, which checks them again.
 */
function checkDistinctDestinations(
  tables: readonly TableConfig[],
  bucket: string | undefined,
  path: Path,
  problems: Problems,
): void {
  const first = new Map<string, { index: number; target: string }>();
  tables.forEach((table, index) => {
    if (isPattern(table.name)) return;
    const target = destinationTableId(table.destination ?? shortTableName(table.name), bucket);
    const earlier = first.get(tableIdKey(target));
    if (earlier === undefined) {
      first.set(tableIdKey(target), { index, target });
      return;
    }
    const sameSource = shortTableName(tables[earlier.index]!.name) === shortTableName(table.name);
    const spelled = earlier.target === target ? '' : ` (as ${problems.quote(earlier.target)})`;
    const what = sameSource
      ? `repeats tables[${earlier.index}]${spelled} (same table, same destination ${problems.quote(target)}); remove one of them`
      : `copies into ${problems.quote(target)} like tables[${earlier.index}]${spelled}; give one of them another "destination"`;
    problems.add([...path, index], what);
  });
}
