#!/usr/bin/env node
/**
 * Composition root (docs/architecture.md, Pipeline): the only module that touches `process`. It parses argv, reads the
 * config, builds the logger, the Storage clients and the writer, runs the action and maps the
 * outcome to the exit code: 0 success, 1 user error, 2 anything else (docs/architecture.md, Errors).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { SYNC_ACTION_DEADLINE_MS, trackCalls, withDeadline } from './actions/deadline.js';
import {
  SYNC_ACTIONS,
  isSyncAction,
  unknownActionMessage,
  type SyncAction,
} from './config/action-names.js';
import { runSyncAction } from './actions/sync-actions.js';
import { parseCli, type CliArgs } from './cli.js';
import { resolveChangedSince } from './config/changed-since.js';
import { checkConfigSize, loadRawConfig, resolveDataDir } from './config/load-raw-config.js';
import { isHeaderText, UNSENDABLE } from './config/fields.js';
import { configForAction, parseConfig, runnerDefaultBucket } from './config/parse-config.js';
import type { Config } from './config/types.js';
import {
  ConfigError,
  InterruptedError,
  ServiceError,
  StorageApiError,
  UserError,
  classAndCause,
  exitCodeFor,
  failedTableOf,
  messageOf,
} from './errors.js';
import { errorCode } from './fs-errors.js';
import {
  LIMIT_OVERRIDES,
  invalidOverrides,
  limitsFromEnv,
  overrideFromEnv,
  type EnvOverride,
  type Limits,
} from './limits.js';
import { lockDataDir, type ThisProcess } from './lock/data-dir-lock.js';
import {
  chooseLogTarget,
  createLogger,
  type LogSink,
  type LogTarget,
  type Logger,
} from './logger.js';
import { endpointsFromEnv } from './objects/endpoints.js';
import { openSliceSink } from './objects/slice-sink.js';
import { openSliceSource } from './objects/slice-source.js';
import type { ObjectStoreEndpoints } from './objects/types.js';
import { checkDataFolder } from './output/data-dir-check.js';
import { DataDirWriter, WORK_DIR_NAME } from './output/data-dir-writer.js';
import { chooseManifestFormat, DATA_TYPE_SUPPORT_ENV } from './output/manifest-format.js';
import type { OutputWriter } from './output/output-writer.js';
import { ProjectWriter } from './output/project-writer.js';
import { peakRssBytes } from './progress/memory.js';
import { TtyProgressView } from './progress/progress-bar.js';
import {
  DEFAULT_TUNING,
  STANDALONE_SLICES_IN_FLIGHT,
  interruptedMessage,
  runSync,
  type RunRecord,
  type RunReport,
  type Tuning,
} from './run.js';
import { SecretMasker } from './secrets.js';
import type { RetryOptions } from './retry/retry-policy.js';
import type { PollOptions } from './storage/job-wait.js';
import { CLAIM_LEASE_MS } from './state/sync-record.js';
import { createStorageClient } from './storage/storage-client.js';
import type { StorageClient } from './storage/types.js';
import { formatSummaryTable, summarize } from './summary.js';
import { escapeForDisplay } from './text/escape.js';
import { checkSummaryPath, summaryDocument, writeSummaryFile } from './summary-file.js';
import { createTokenApi, type TokenApi } from './storage/token-api.js';
import { readLastActivity, runTokenCommand } from './tokens/commands.js';
import { writeConfigAtomically } from './tokens/config-file.js';
import { tokenKeyOf } from './tokens/config-token.js';
import type { TokenRole } from './tokens/rules.js';

export interface Io {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  /** Aborted on SIGTERM/SIGINT, with the signal's name as the reason. */
  readonly signal: AbortSignal;
}

/** How the run ended: the exit code and, unless it succeeded, its one sentence for stderr. */
interface Ending {
  readonly code: number;
  readonly sentence?: string | undefined;
}

/** Runs the command line and returns the exit code. Never throws. */
export async function main(io: Io): Promise<number> {
  const masker = new SecretMasker();
  const startedAtMs = Date.now();
  const record: RunRecord = {};
  const session: Session = {};
  let ending: Ending;
  try {
    ending = await execute(io, masker, record, session);
  } catch (error) {
    // After SIGTERM/SIGINT whatever broke off (an aborted request or retry wait) is the
    // interruption, unless the user must fix something.
    const interrupted =
      io.signal.aborted && exitCodeFor(error) !== 1 && !(error instanceof InterruptedError);
    ending = describeFailure(
      interrupted ? new InterruptedError(interruptedMessage(io.signal), { cause: error }) : error,
      masker,
    );
  }
  if (session.summaryFile !== undefined) {
    ending = await writeSummary(session.summaryFile, record, ending, startedAtMs, masker);
  }
  // Under GELF the runner reads the last error event too, and shows it to the user; stderr keeps
  // the sentence either way. An application error (exit 2) sends its first line only: its stack
  // trace stays on stderr, which the runner keeps in its internal logs (docs/logging.md).
  if (ending.sentence !== undefined && session.target?.kind === 'gelf') {
    const [headline = ending.sentence] = ending.sentence.split('\n');
    session.sink?.logger.error(ending.code === 1 ? ending.sentence : headline);
  }
  await session.sink?.flush();
  if (ending.sentence !== undefined) io.stderr.write(`${ending.sentence}\n`);
  return ending.code;
}

/** What `execute` set up, for the ending: the logger to flush, the summary file to write. */
interface Session {
  summaryFile?: string;
  target?: LogTarget;
  sink?: LogSink;
}

async function execute(
  io: Io,
  masker: SecretMasker,
  record: RunRecord,
  session: Session,
): Promise<Ending> {
  const cli = parseCli(io.argv);
  if (cli.command === 'help') {
    io.stdout.write(`${cli.text}\n`);
    return { code: 0 };
  }
  checkRunId(io.env);
  checkTimingKnobs(io.env);
  checkSliceKnobs(io.env);
  // The cloud SDKs' own variables point transfers at emulators (docs/providers.md); a value that
  // is not a URL is exit 1 naming it, before any request.
  const endpoints = endpointsFromEnv(io.env);
  if (cli.command === 'token') return { code: await runToken(cli, io, masker) };
  const dataDir = resolveDataDir({ cliData: cli.data, env: io.env, exists: existsSync });
  if (cli.command === 'run' && cli.summaryFile !== undefined) {
    await checkSummaryPath(cli.summaryFile, dataDir);
    session.summaryFile = cli.summaryFile;
  }
  const limits = checkedLimits(io.env);
  await checkConfigSize(dataDir, limits.maxConfigBytes);
  const raw = await loadRawConfig(dataDir);
  masker.addHashKeys(raw);
  const action = chooseAction(cli, raw, masker);
  const parsed = parseOrThrow(raw, action);
  const defaultBucket = parsed.defaultBucket ?? runnerDefaultBucket(io.env);
  const config = defaultBucket === undefined ? parsed : { ...parsed, defaultBucket };
  masker.add(config.source.token);
  masker.add(config.destination?.token);
  const target = chooseLogTarget({
    env: io.env,
    stdoutIsTty: io.stdout.isTTY === true,
    requested: cli.logFormat,
  });
  session.target = target;
  // On a terminal, `run` draws a progress bar; log lines go through it to land above the bar.
  const progressView =
    action === 'run' && io.stdout.isTTY === true && target.kind === 'text'
      ? new TtyProgressView(io.stdout)
      : undefined;
  const sink = buildLogger(io, masker, config, action, target, progressView?.output);
  session.sink = sink;
  const logger = sink.logger;
  // The signal's name is the abort reason (bootstrap); the line lands above the progress bar.
  io.signal.addEventListener(
    'abort',
    () =>
      logger.warn(`Received ${String(io.signal.reason)}: stopping; nothing new will be finished.`),
    { once: true },
  );
  logContext(logger, io.env, action);
  const source = buildClient(config.source, 'source', io, masker, logger, limits);
  const selection = {
    only: cli.tables,
    fullRefresh: cli.command === 'run' ? cli.fullRefresh : [],
    fullRefreshAll: cli.command === 'run' && cli.fullRefreshAll,
    shard: cli.shard,
  };
  if (action !== 'run') {
    const tracked = trackCalls(source);
    // Standalone `plan` reads the destination's sync records (never writes them).
    const destination =
      action === 'plan' && config.destination
        ? trackCalls(buildClient(config.destination, 'destination', io, masker, logger, limits))
        : undefined;
    const deadlineMs = overrideFromEnv(io.env, ACTION_DEADLINE_KNOB) ?? SYNC_ACTION_DEADLINE_MS;
    const document = await withDeadline(
      runSyncAction(action, {
        config,
        dataDir,
        selection,
        source: tracked.client,
        logger,
        nowMs: Date.now,
        resolveChangedSince,
        skipUnchanged: tuningFrom(io.env, config.destination !== undefined).skipUnchanged,
        ...(destination && { destination: destination.client }),
        lastActivity: (tokenId) =>
          readLastActivity(buildTokenApi(config.source, 'source', io, masker, logger), tokenId),
      }),
      deadlineMs,
      () => {
        const stalled =
          destination && destination.pending().length > 0
            ? {
                api: `destination Storage API ${config.destination?.url ?? ''}`,
                calls: destination,
              }
            : { api: `source Storage API ${config.source.url}`, calls: tracked };
        return `The sync action "${action}" did not finish within ${deadlineMs / 1000} s: the ${stalled.api} did not answer ${stalled.calls.pending().join(', ') || 'in time'}.`;
      },
    );
    // Through the masker as every other output: a secret or token-shaped value in an API answer
    // (a column or project name) is shown as `[hidden]` (no quote or backslash, so a string stays a valid JSON string).
    io.stdout.write(
      `${masker.mask(JSON.stringify(document, null, cli.command === 'run' && cli.dryRun ? 2 : 0))}\n`,
    );
    return { code: 0 };
  }
  // Environment faults are found before any request and before the lock (which lives in out/):
  // one sentence naming the path (docs/configuration.md, "The data folder").
  await checkDataFolder(dataDir, { tables: !config.destination, workDirName: WORK_DIR_NAME });
  // One run per data folder (docs/locking.md); sync actions write nothing and take no lock.
  const lock = await lockDataDir(dataDir, {
    warn: (message) => logger.warn(message),
    here: thisProcess(),
  });
  const signal = AbortSignal.any([io.signal, lock.lost]);
  const report = await runSync({
    config,
    dataDir,
    selection,
    logger,
    signal,
    source,
    writer: buildWriter(
      config,
      dataDir,
      { ...io, signal },
      masker,
      logger,
      endpoints,
      limits,
      source,
    ),
    openSliceSource: (file, refetchFile) =>
      openSliceSource(file, {
        refetchFile,
        endpoints,
        masker,
        logger,
        ...timingFrom(io.env),
        maxManifestBytes: limits.maxManifestBytes,
        requestTimeoutMs: limits.requestTimeoutMs,
        progressRate: {
          minBytes: limits.minSliceBytesPerWindow,
          windowMs: limits.sliceProgressWindowMs,
        },
        signal,
      }),
    limits,
    resolveChangedSince,
    nowMs: Date.now,
    tuning: tuningFrom(io.env, config.destination !== undefined),
    progressView,
    record,
  }).finally(() => lock.release());
  return logReport(logger, report, target.kind !== 'text', masker);
}

/**
 * CLI action > `--dry-run` > `action` in config.json > `run`.
 * An action that is not a string is a config problem, and so is a name that is not an action:
 * exit 1 with the list of valid ones. The name is masked before the message cuts it, so not even
 * the start of a secret pasted as the action is shown.
 */
function chooseAction(
  cli: Exclude<CliArgs, { command: 'help' | 'token' }>,
  raw: unknown,
  masker: SecretMasker,
): 'run' | SyncAction {
  const value: unknown = raw && typeof raw === 'object' && 'action' in raw ? raw.action : undefined;
  if (value !== undefined && value !== null && typeof value !== 'string') {
    // Never run a config whose action is not a name (an array, a number…) as if it said "run".
    throw new ConfigError([`action: must be a string such as "run", not ${typeof value}`]);
  }
  if (cli.command === 'action') {
    // `action` runs sync actions only, which never write to out/ (docs/sync-actions.md).
    if (isSyncAction(cli.name)) return cli.name;
    throw new UserError(
      cli.name === 'run'
        ? '"run" is not a sync action: copy the tables with "kbc-table-sync run" (or no command).'
        : unknownActionMessage(masker.mask(cli.name), SYNC_ACTIONS),
    );
  }
  const configured = typeof value === 'string' && value !== '' ? value : 'run';
  const action = cli.dryRun ? 'plan' : configured;
  if (action === 'run' || isSyncAction(action)) return action;
  throw new UserError(unknownActionMessage(masker.mask(action)));
}

function parseOrThrow(raw: unknown, action: string): Config {
  const withAction =
    raw && typeof raw === 'object' && !Array.isArray(raw) ? { ...raw, action } : raw;
  const parsed = parseConfig(configForAction(withAction, action));
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  return parsed.config;
}

function buildLogger(
  io: Io,
  masker: SecretMasker,
  config: Config,
  action: string,
  target: LogTarget,
  ttyOutput?: NodeJS.WritableStream,
): LogSink {
  const run = action === 'run';
  // The runner starts a job in debug mode with KBC_COMPONENT_RUN_MODE=debug (docs/logging.md).
  const debug = config.debug || io.env.KBC_COMPONENT_RUN_MODE === 'debug';
  // A sync action's stdout is exactly one JSON document: its logs go only to a GELF server.
  return createLogger({
    level: run ? (debug ? 'debug' : 'info') : 'warn',
    masker,
    target,
    out: run ? (ttyOutput ?? io.stdout) : nullStream(),
  });
}

function logContext(logger: Logger, env: NodeJS.ProcessEnv, action: string): void {
  const context = {
    action,
    runId: env.KBC_RUNID,
    configId: env.KBC_CONFIGID,
    configRowId: env.KBC_CONFIGROWID,
    stackId: env.KBC_STACKID,
  };
  logger.info(
    context,
    // The line shows the row id escaped: a line break in it would forge a second text log line.
    `kbc-table-sync ${action}${env.KBC_CONFIGROWID ? ` (configuration row ${escapeForDisplay(env.KBC_CONFIGROWID)})` : ''}`,
  );
}

/**
 * The longest `KBC_RUNID` sent. Keboola run ids are short: one numeric id per nesting level,
 * joined by dots (`1234567890.1234567891`), so 1,024 characters hold dozens of levels. Yet it
 * stays far below what servers take for all of a request's headers (Node's default is 16 KiB,
 * common proxies 8 KiB per line), so the header can never be the reason a request is refused.
 */
const MAX_RUN_ID_LENGTH = 1_024;

/**
 * `KBC_RUNID` goes into the X-KBC-RunId header of every request: a value that cannot (a line
 * break, a non-ASCII character, more than {@link MAX_RUN_ID_LENGTH} characters) is exit 1 naming
 * it, before any request, rather than dropped: the runner never sets such a value, so whoever set
 * it should know.
 * @throws UserError naming the variable, without its value
 */
function checkRunId(env: NodeJS.ProcessEnv): void {
  const runId = env.KBC_RUNID;
  if (runId === undefined) return;
  const problem = !isHeaderText(runId)
    ? UNSENDABLE
    : runId.length > MAX_RUN_ID_LENGTH
      ? `is ${runId.length} characters long, more than the ${MAX_RUN_ID_LENGTH} a run id may have`
      : undefined;
  if (problem === undefined) return;
  throw new UserError(
    `KBC_RUNID ${problem}: set it to a plain run id such as 123456789, or unset it.`,
  );
}

/**
 * The Storage API client of one project. `role` says which config key the token came from, so a
 * token that stops working mid-run is named by its key; undefined for the token commands, whose
 * tokens may come from elsewhere (KBC_MASTER_TOKEN, a new token).
 */
function buildClient(
  endpoint: { url: string; token: string },
  role: TokenRole | undefined,
  io: Io,
  masker: SecretMasker,
  logger: Logger,
  limits: Limits,
): StorageClient {
  return createStorageClient({
    url: endpoint.url,
    token: endpoint.token,
    ...(role && { tokenKey: tokenKeyOf(role) }),
    masker,
    logger,
    requestTimeoutMs: limits.requestTimeoutMs,
    firstContactTimeoutMs: limits.firstContactTimeoutMs,
    maxAnswerBytes: limits.maxAnswerBytes,
    signal: io.signal,
    ...(io.env.KBC_RUNID ? { runId: io.env.KBC_RUNID } : {}),
    ...timingFrom(io.env),
  });
}

function buildTokenApi(
  endpoint: { url: string; token: string },
  role: TokenRole | undefined,
  io: Io,
  masker: SecretMasker,
  logger: Logger,
): TokenApi {
  return createTokenApi({
    url: endpoint.url,
    token: endpoint.token,
    ...(role && { tokenKey: tokenKeyOf(role) }),
    masker,
    logger,
    ...(io.env.KBC_RUNID ? { runId: io.env.KBC_RUNID } : {}),
    ...timingFrom(io.env),
  });
}

/**
 * The `token` commands (docs/tokens.md). Only the new token string is written unmasked, and only
 * through `printSecret`; warnings (retries) go to stderr through the masker.
 */
async function runToken(
  cli: Extract<CliArgs, { command: 'token' }>,
  io: Io,
  masker: SecretMasker,
): Promise<number> {
  // stdout carries only what the command promised (the new token); warnings go to stderr.
  const { logger } = createLogger({
    level: 'warn',
    masker,
    target: { kind: 'text' },
    out: io.stderr,
  });
  return runTokenCommand(cli, {
    env: io.env,
    masker,
    openTokenApi: (url, token) => buildTokenApi({ url, token }, undefined, io, masker, logger),
    openStorage: (url, token) =>
      buildClient({ url, token }, undefined, io, masker, logger, checkedLimits(io.env)),
    resolveDataDir: (cliData) => resolveDataDir({ cliData, env: io.env, exists: existsSync }),
    readConfig: loadRawConfig,
    writeConfig: writeConfigAtomically,
    lockDataDir: (dataDir) =>
      lockDataDir(dataDir, { warn: (line) => logger.warn(line), here: thisProcess() }),
    isFolder: async (path) => (await stat(path).catch(() => undefined))?.isDirectory() === true,
    printSecret: (token) => io.stdout.write(`${token}\n`),
    out: (text) => io.stdout.write(masker.mask(text)),
    // One line each: descriptions and names from the API are shown escaped, never raw.
    say: (line) => io.stderr.write(`${escapeForDisplay(masker.mask(line))}\n`),
    nowMs: Date.now,
  });
}

function buildWriter(
  config: Config,
  dataDir: string,
  io: Io,
  masker: SecretMasker,
  logger: Logger,
  endpoints: ObjectStoreEndpoints,
  limits: Limits,
  source: StorageClient,
): OutputWriter {
  if (!config.destination) {
    return new DataDirWriter(dataDir, logger, {
      choice: chooseManifestFormat(config.dataTypeSupport, io.env[DATA_TYPE_SUPPORT_ENV]),
      readSourceTable: (tableId) => source.getTable(tableId),
    });
  }
  return new ProjectWriter({
    destination: config.destination,
    client: buildClient(config.destination, 'destination', io, masker, logger, limits),
    readSourceTable: (tableId) => source.getTable(tableId),
    openSliceSink: (prepared, refreshFile) =>
      openSliceSink(prepared, { refreshFile, endpoints, masker, logger, ...timingFrom(io.env) }),
    logger,
    signal: io.signal,
    claimLeaseMs: overrideFromEnv(io.env, CLAIM_LEASE_KNOB) ?? CLAIM_LEASE_MS,
    nowMs: () => performance.now(),
    newClaimId: () => randomBytes(8).toString('hex'),
  });
}

/** A timing knob of docs/faults.md ("Timing knobs"): `KBC_TABLE_SYNC_<name>`, in milliseconds. */
function timingKnob(name: string, zeroAllowed = false): EnvOverride {
  return { name: `KBC_TABLE_SYNC_${name}`, unit: 1, zeroAllowed };
}

const RETRY_KNOBS = {
  baseDelayMs: timingKnob('RETRY_BASE_MS'),
  maxDelayMs: timingKnob('RETRY_MAX_MS'),
  maxRetryAfterMs: timingKnob('RETRY_AFTER_CAP_MS'),
  budgetMs: timingKnob('RETRY_BUDGET_MS'),
} as const;
const POLL_KNOBS = {
  initialDelayMs: timingKnob('POLL_INITIAL_MS'),
  maxDelayMs: timingKnob('POLL_MAX_MS'),
  timeoutMs: timingKnob('JOB_TIMEOUT_MS'),
} as const;
const CLAIM_LEASE_KNOB = timingKnob('CLAIM_LEASE_MS');
const REPEAT_SIGNAL_KNOB = timingKnob('REPEAT_SIGNAL_MS', true);
const ACTION_DEADLINE_KNOB = timingKnob('ACTION_DEADLINE_MS');
const PROGRESS_KNOB = timingKnob('PROGRESS_MS');

/** Slices in flight (docs/performance.md), counted in slices. */
const SLICE_KNOBS = {
  slicesPerTable: { name: 'KBC_TABLE_SYNC_SLICES_PER_TABLE', unit: 1 },
  slicesGlobal: { name: 'KBC_TABLE_SYNC_SLICES_GLOBAL', unit: 1 },
} as const satisfies Record<string, EnvOverride>;

/**
 * Refuses a timing knob set to what is not a number of milliseconds (positive; 0 or more for
 * `KBC_TABLE_SYNC_REPEAT_SIGNAL_MS`), as the limits' overrides are refused (same parser).
 * @throws UserError naming the variable, without its value
 */
function checkTimingKnobs(env: NodeJS.ProcessEnv): void {
  const knobs = [
    ...Object.values(RETRY_KNOBS),
    ...Object.values(POLL_KNOBS),
    CLAIM_LEASE_KNOB,
    REPEAT_SIGNAL_KNOB,
    ACTION_DEADLINE_KNOB,
    PROGRESS_KNOB,
  ];
  refuseInvalidOverrides(env, knobs, 'give one in milliseconds (docs/faults.md, Timing knobs)');
}

/**
 * The one sentence for the first of `overrides` that `env` sets to what is not a number in its
 * unit (positive, or 0 or more where allowed); `howToSet` says what to give instead.
 * @throws UserError naming the variable, without its value
 */
function refuseInvalidOverrides(
  env: NodeJS.ProcessEnv,
  overrides: readonly EnvOverride[],
  howToSet: string,
): void {
  const [invalid] = invalidOverrides(env, overrides);
  if (invalid === undefined) return;
  const zeroAllowed = overrides.find(({ name }) => name === invalid)?.zeroAllowed === true;
  throw new UserError(
    `The environment variable ${invalid} is not ${zeroAllowed ? 'a number of 0 or more' : 'a positive number'}: ${howToSet}, or leave it unset for the default.`,
  );
}

/**
 * Refuses a slice-concurrency override set to what is not a positive number of slices, with the
 * same parser as the timing knobs.
 * @throws UserError naming the variable, without its value
 */
function checkSliceKnobs(env: NodeJS.ProcessEnv): void {
  refuseInvalidOverrides(
    env,
    Object.values(SLICE_KNOBS),
    'give the number of slices in flight (docs/performance.md)',
  );
}

/**
 * Retry and job-polling overrides (fault-injection tests use small values; production keeps the
 * defaults of docs/storage-client.md), checked by {@link checkTimingKnobs} first.
 */
function timingFrom(env: NodeJS.ProcessEnv): {
  retry?: Partial<RetryOptions>;
  poll?: Partial<PollOptions>;
} {
  const pick = <K extends string>(
    knobs: Readonly<Record<K, EnvOverride>>,
  ): Partial<Record<K, number>> => {
    const out: Partial<Record<K, number>> = {};
    for (const [key, knob] of Object.entries(knobs) as [K, EnvOverride][]) {
      const value = overrideFromEnv(env, knob);
      if (value !== undefined) out[key] = value;
    }
    return out;
  };
  const retry = pick(RETRY_KNOBS);
  const poll = pick(POLL_KNOBS);
  return {
    ...(Object.keys(retry).length > 0 ? { retry } : {}),
    ...(Object.keys(poll).length > 0 ? { poll } : {}),
  };
}

/**
 * Concurrency overrides for benchmarks and tests, checked by {@link checkSliceKnobs} and
 * {@link checkTimingKnobs} first; the defaults come from the benchmark, with fewer slices in
 * flight in standalone mode (`STANDALONE_SLICES_IN_FLIGHT`).
 */
function tuningFrom(env: NodeJS.ProcessEnv, standalone: boolean): Tuning {
  const slicesDefault = (fallback: number) => (standalone ? STANDALONE_SLICES_IN_FLIGHT : fallback);
  return {
    slicesPerTable:
      overrideFromEnv(env, SLICE_KNOBS.slicesPerTable) ??
      slicesDefault(DEFAULT_TUNING.slicesPerTable),
    slicesGlobal:
      overrideFromEnv(env, SLICE_KNOBS.slicesGlobal) ?? slicesDefault(DEFAULT_TUNING.slicesGlobal),
    progressIntervalMs: overrideFromEnv(env, PROGRESS_KNOB) ?? DEFAULT_TUNING.progressIntervalMs,
    // The benchmark's "export everything" comparison run only; never needed in production.
    skipUnchanged: env.KBC_TABLE_SYNC_SKIP_UNCHANGED !== '0',
  };
}

/**
 * Logs the per-table summary (the table as text; per-table records too for JSON and GELF). When a
 * table failed (standalone mode) the ending names them: exit 1 when the user can fix every one.
 */
function logReport(
  logger: Logger,
  report: RunReport,
  structured: boolean,
  masker: SecretMasker,
): Ending {
  const summary = summarize(report.outcomes, Date.now());
  if (structured) {
    for (const row of summary.rows)
      logger.info({ summary: row }, `summary ${row.table}: ${row.status}`);
  }
  // Peak resident memory of the whole process, for the Performance figures.
  const peakRss = peakRssBytes(() => process.resourceUsage().maxRSS);
  logger.info(
    { totals: { ...summary.totals, peakRssBytes: peakRss } },
    `Summary\n${formatSummaryTable(summary)}\npeak memory (RSS) ${(peakRss / 1e6).toFixed(0)} MB`,
  );
  const failed = report.outcomes.filter((o) => o.status === 'failed');
  if (failed.length === 0) return { code: 0 };
  const which = failed.map((o) => `${o.plan.sourceId}: ${failureText(o.error)}`).join('; ');
  return {
    code: failed.every((o) => exitCodeFor(o.error) === 1) ? 1 : 2,
    sentence: masker.mask(
      `${failed.length} of ${report.outcomes.length} table(s) failed: ${which}`,
    ),
  };
}

/** User errors and interruptions: their sentence. Anything else: class and cause chain, exit 2. */
function describeFailure(error: unknown, masker: SecretMasker): Ending {
  // One line each: control and bidi characters of names are shown escaped, never raw.
  const shown = (text: string) =>
    masker
      .mask(text)
      .split('\n')
      .map((line) => escapeForDisplay(line))
      .join('\n');
  if (exitCodeFor(error) === 1) return { code: 1, sentence: shown(messageOf(error)) };
  const table = failedTableOf(error);
  const named = (text: string) => (table === undefined ? text : `Table "${table}" failed: ${text}`);
  // An interruption says what stopped the run; a misbehaving service (an outage that outlasted
  // the retries included) its class, sentence and cause, without a stack trace; anything else is
  // a bug, with its stack: an unrecognised 4xx is a request the job should not have sent.
  if (error instanceof InterruptedError) return { code: 2, sentence: shown(named(error.message)) };
  if (error instanceof ServiceError || isOutage(error))
    return { code: 2, sentence: shown(named(classAndCause(error))) };
  return { code: exitCodeFor(error), sentence: shown(named(describeInternalError(error))) };
}

/**
 * Writes `--summary-file` whatever the outcome. A file that cannot be written turns a success
 * into exit 1 naming it; a failed run keeps its own code and sentence.
 */
async function writeSummary(
  path: string,
  record: RunRecord,
  ending: Ending,
  startedAtMs: number,
  masker: SecretMasker,
): Promise<Ending> {
  const document = summaryDocument({
    outcomes: record.outcomes ?? [],
    exitCode: ending.code,
    error: ending.sentence,
    startedAtMs,
    nowMs: Date.now(),
  });
  try {
    await writeSummaryFile(path, document, masker);
    return ending;
  } catch (error) {
    if (ending.code !== 0) return ending;
    return {
      code: 1,
      sentence: masker.mask(
        `--summary-file ${JSON.stringify(path)} could not be written: ${messageOf(error)}`,
      ),
    };
  }
}

/**
 * The limits with their environment overrides (docs/limits.md).
 * @throws UserError naming an override that is not a positive number
 */
function checkedLimits(env: NodeJS.ProcessEnv): Limits {
  refuseInvalidOverrides(env, LIMIT_OVERRIDES, 'give one in its unit (docs/limits.md)');
  return limitsFromEnv(env);
}

/**
 * A table's failure in the run's final sentence: the user's sentence for what exits 1; for
 * anything else (exit 2) its class and cause as well (docs/logging.md).
 */
function failureText(error: unknown): string {
  if (exitCodeFor(error) === 1 || !(error instanceof Error)) return messageOf(error);
  return classAndCause(error);
}

/** A Storage 5xx (maintenance included) that every retry met: the service's fault, not a bug. */
function isOutage(error: unknown): error is StorageApiError {
  return error instanceof StorageApiError && error.details.status >= 500;
}

function describeInternalError(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      lines.push(`${depth === 0 ? '' : 'caused by '}${current.name}: ${current.message}`);
      if (depth === 0 && current.stack) lines.push(...current.stack.split('\n').slice(1, 6));
      current = current.cause;
    } else {
      lines.push(typeof current === 'string' ? current : JSON.stringify(current));
      current = undefined;
    }
  }
  return lines.join('\n');
}

/** This process, as the data-folder lock records its owner and judges a recorded one. */
function thisProcess(): ThisProcess {
  return {
    pid: process.pid,
    hostname: hostname(),
    startedAtMs: Date.now() - process.uptime() * 1000,
    isAlive: processExists,
  };
}

/** Signal 0 checks existence only; EPERM means it exists under another user. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}

function nullStream(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

/** How long a signalled run may take to wind down (the contract: stopped within 2 s). */
const SIGNAL_GRACE_MS = 1_500;

/**
 * A signal this soon after the first is the same stop delivered twice, not a second one: whoever
 * signals both the process and its process group (GNU `timeout`, `kill 0`, npm or npx passing on
 * a terminal's Ctrl-C that the whole group got) delivers one stop twice, microseconds apart. Only
 * a later signal exits at once with 130. Tests set it with `KBC_TABLE_SYNC_REPEAT_SIGNAL_MS`.
 */
const REPEAT_SIGNAL_MS = 500;

/** Process bootstrap: signals abort the run; the exit code is set, never forced, so logs drain. */
async function bootstrap(): Promise<void> {
  const abort = new AbortController();
  const repeatMs = overrideFromEnv(process.env, REPEAT_SIGNAL_KNOB) ?? REPEAT_SIGNAL_MS;
  let firstSignalMs: number | undefined;
  // main() logs the signal (above the progress bar) and ends with it in its final sentence.
  const onSignal = (signal: NodeJS.Signals) => {
    const nowMs = performance.now();
    if (firstSignalMs !== undefined) {
      if (nowMs - firstSignalMs >= repeatMs) process.exit(130);
      return;
    }
    firstSignalMs = nowMs;
    abort.abort(signal);
    // Every request, wait and slice listens to the signal; should anything still hold the run,
    // stop anyway. Finished tables are complete, and the work folder is removed by the next run.
    setTimeout(() => {
      process.stderr.write('Stopped: the run did not wind down within 1.5 s of the signal.\n');
      process.exit(2);
    }, SIGNAL_GRACE_MS).unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A reader that goes away (`… | head -1`) must not crash the run half-way: what it would have
  // read is dropped, the run finishes, and the exit code still tells the outcome.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    });
  }
  process.exitCode = await main({
    argv: process.argv.slice(2),
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    signal: abort.signal,
  });
  // The outcome is decided and its exit code set: a signal from now on (a stop that comes while a
  // hanging request keeps the process open) must not turn it into a kill (exit 143), so the
  // signals stay handled, and ignored, until the process exits.
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  const ignoreSignal = () => undefined;
  process.on('SIGTERM', ignoreSignal);
  process.on('SIGINT', ignoreSignal);
  // Everything the run owes is written; a request still hanging (a sync action past its deadline)
  // must not hold the process open.
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}

const EXIT_GRACE_MS = 2_000;

// Run only as the entry point (the npm bin is a symlink, so compare real paths), not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  void bootstrap();
}
