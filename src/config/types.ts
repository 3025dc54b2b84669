import type { DateExpression } from './date-expression.js';

/**
 * The validated configuration (docs/configuration.md). `parseConfig` produces it from the raw config.json;
 * everything downstream works on these types only.
 */

/** Region ids of the multi-tenant stacks (aliases are resolved by the parser). */
export type RegionId = 'us-east-1' | 'eu-central-1' | 'north-europe' | 'europe-west3' | 'us-east4';

/**
 * `changedSince` after parsing. Relative expressions stay relative until the export starts, so the
 * instant is taken at the right moment (on the Storage server's clock); `lastRun` is resolved from
 * the saved watermark.
 */
export type ChangedSince =
  | { readonly kind: 'absolute'; readonly unixSeconds: number }
  /** A `strtotime` expression that depends on the clock: `-1 day`, `yesterday noon`, `last monday`. */
  | { readonly kind: 'relative'; readonly expression: DateExpression; readonly text: string }
  | { readonly kind: 'lastRun' };

/** How a table lands in the destination: replaced, appended to, or upserted by primary key. */
export type LoadMode = 'full' | 'append' | 'upsert';

export interface TableConfig {
  /**
   * As configured: a table name inside the token's bucket, or a full id in that bucket; either may
   * be a pattern with `*` and `?`, expanded against the bucket's tables at run time.
   */
  readonly name: string;
  /** Destination table: a full id `stage.c-bucket.table` or a short name; default the source name. */
  readonly destination?: string;
  readonly changedSince?: ChangedSince;
  /** false → full load; true → append, or upsert when a primary key is set. */
  readonly incremental: boolean;
  /** Column names, or `'source'`: each table's own primary key, read from the source table. */
  readonly primaryKey: readonly string[] | 'source';
  /** Take the source primary key and do a full load; `primaryKey` and `incremental` are ignored. */
  readonly fullSync: boolean;
  /** Copy only these columns, in this order. */
  readonly columns?: readonly string[];
  readonly extractMetadata: boolean;
  readonly enabled: boolean;
  /**
   * Where its keys stand in config.json, for messages found at run time: `parameters` for the
   * single-table (ex-storage row) form; absent for an item of `tables` (then
   * `parameters.tables[i]`).
   */
  readonly configPath?: string;
}

export interface ProjectEndpoint {
  /** Storage API base URL without a trailing slash, e.g. `https://connection.keboola.com`. */
  readonly url: string;
  /** The configured region, when one was given (used to compare with the token's `owner.region`). */
  readonly region?: RegionId;
  readonly token: string;
}

export interface DestinationConfig extends ProjectEndpoint {
  /** Destination bucket id, e.g. `in.c-copy`. */
  readonly bucket: string;
}

/**
 * How the project's output mapping treats data types (docs/output-manifests.md): from
 * `storage.output.data_type_support` in config.json or the runner's `KBC_DATA_TYPE_SUPPORT`.
 */
export type DataTypeSupport = 'authoritative' | 'hints' | 'none';

export const DATA_TYPE_SUPPORTS: readonly DataTypeSupport[] = ['authoritative', 'hints', 'none'];

export interface Config {
  /** `run` or a sync action name (`list`, `info`, `sourceInfo`, `testConnection`, `plan`). */
  readonly action: string;
  readonly source: ProjectEndpoint;
  readonly tables: readonly TableConfig[];
  /** `parameters.exclude`: patterns of table names that patterns in `tables` do not pick up. */
  readonly exclude: readonly string[];
  /** Standalone mode when present; platform mode (out/tables) otherwise. */
  readonly destination?: DestinationConfig;
  /** Tables in flight at once, 1–32. */
  readonly parallelism: number;
  /** A `lastRun` window ends this many seconds before the Storage server's now (0–86400). */
  readonly lagSeconds: number;
  readonly debug: boolean;
  /**
   * The bucket of short output names in platform mode: `storage.output.default_bucket` from
   * config.json, else the runner's own (`runnerDefaultBucket`); absent outside Keboola.
   */
  readonly defaultBucket?: string;
  /**
   * `storage.output.data_type_support` from config.json, when set: overrides
   * `KBC_DATA_TYPE_SUPPORT` in choosing the manifest format of platform mode.
   */
  readonly dataTypeSupport?: DataTypeSupport;
}

/** What `parseConfig` returns: a config, or every problem found, each as `path: message`. */
export type ParseResult =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly problems: readonly string[] };
