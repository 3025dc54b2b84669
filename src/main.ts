#!/usr/bin/env node
/**
 * Composition root (docs/architecture.md, Pipeline): the only module that touches `process`. It parses argv, reads the
 * config, builds the logger, the Storage clients and the writer, runs the action and maps the
 * outcome to the exit code: 0 success, 1 user error, 2 anything else (docs/architecture.md, Errors).
 */
// First: from here on SIGTERM and SIGINT have a handler (early-signals.ts says why).
import { isEntryPoint, takeEarlySignal } from './early-signals.js';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { describeStall, RetryNotes, trackCalls, withDeadline } from './actions/deadline.js';
import {
  SYNC_ACTIONS,
  isSyncAction,
  unknownActionMessage,
  type SyncAction,
} from './config/action-names.js';
import { runSyncAction } from './actions/sync-actions.js';
import { checkFlagsOfAction, parseCli, type CliArgs } from './cli.js';
import { resolveChangedSince } from './config/changed-since.js';
import {
  checkConfigSize,
  loadConfigFile,
  loadRawConfig,
  resolveDataDir,
} from './config/load-raw-config.js';
import { isHeaderText, UNSENDABLE } from './config/fields.js';
import { configForAction, parseConfig, runnerDefaultBucket } from './config/parse-config.js';
import type { Config } from './config/types.js';
import type { Selection } from './plan/plan-tables.js';
import {
  ConfigError,
  InterruptedError,
  ServiceError,
  StorageApiError,
  UserError,
  classAndCause,
  exitCodeFor,
  failedTableOf,
  isOutage,
  messageOf,
  type ExitContext,
} from './errors.js';
import { errorCode } from './fs-errors.js';
import {
  actionDeadlineMsFrom,
  checkSliceKnobs,
  checkTimingKnobs,
  checkedLimits,
  claimLeaseMsFrom,
  repeatSignalMsFrom,
  timingFrom,
  tuningFrom,
} from './env-knobs.js';
import type { Limits } from './limits.js';
import { lockDataDir, type ThisProcess } from './lock/data-dir-lock.js';
import { readProcessTable } from './lock/process-table.js';
import {
  chooseLogTarget,
  createLogger,
  type LogSink,
  type LogTarget,
  type Logger,
} from './logger.js';
import { endpointsFromEnv } from './objects/endpoints.js';
import { ObjectStoreError } from './objects/errors.js';
import { openSliceSink } from './objects/slice-sink.js';
import { openSliceSource } from './objects/slice-source.js';
import type { ObjectStoreEndpoints } from './objects/types.js';
import { checkDataFolder } from './output/data-dir-check.js';
import { DataDirWriter, WORK_DIR_NAME } from './output/data-dir-writer.js';
import { chooseManifestFormat, DATA_TYPE_SUPPORT_ENV } from './output/manifest-format.js';
import type { OutputWriter } from './output/output-writer.js';
import { ProjectWriter } from './output/project-writer.js';
import { measurePeakRssBytes } from './progress/memory.js';
import { TtyProgressView } from './progress/progress-bar.js';
import { interruptedMessage, runSync, type RunRecord, type RunReport } from './run.js';
import { SecretMasker } from './secrets.js';
import { StorageNetworkError } from './storage/http.js';
import { createStorageClient, type StorageClientOptions } from './storage/storage-client.js';
import type { StorageClient } from './storage/types.js';
import { formatSummaryTable, summarize } from './summary.js';
import { escapeForDisplay } from './text/escape.js';
import { checkSummaryPath, summaryDocument, writeSummaryFile } from './summary-file.js';
import { createTokenApi, type TokenApi } from './storage/token-api.js';
import { readLastActivity, runTokenCommand } from './tokens/commands.js';
import { prepareConfigWrite } from './tokens/config-file.js';
import { tokenKeyOf } from './tokens/config-token.js';
import type { TokenRole } from './tokens/rules.js';

export interface Io {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  /** Aborted on SIGTERM/SIGINT, with the signal's name as the reason. */
  readonly signal: AbortSignal;
  /**
   * Runs `work` with the forced exit after a stop signal put off until it settles (the process's
   * own handling: {@link bootstrap}); a later signal still ends the process at once, after
   * writing `ifCutShort` to stderr. Absent inside a test's process: `work` simply runs.
   */
  readonly deferStop?: <T>(work: () => Promise<T>, ifCutShort: string) => Promise<T>;
  /**
   * Set once the command's result goes to stdout (a sync action's document, help, a token
   * command's output), rather than only the run's log: losing stdout then fails the command
   * ({@link bootstrap}).
   */
  stdoutIsProduct?: boolean;
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
      exitContextOf(io.env),
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

/** The command line once `help` and `token` are handled: `run` or a sync action. */
type DataCli = Exclude<CliArgs, { command: 'help' | 'token' }>;

/** What the run and the sync actions share once the config is read and the logger built. */
interface Prepared {
  readonly io: Io;
  readonly masker: SecretMasker;
  readonly config: Config;
  readonly dataDir: string;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly source: StorageClient;
  /** The failed attempts the source client's retries repeat, for a sync action's deadline. */
  readonly sourceRetries: RetryNotes;
  readonly selection: Selection;
}

async function execute(
  io: Io,
  masker: SecretMasker,
  record: RunRecord,
  session: Session,
): Promise<Ending> {
  // Stopped before any work: a signal while the job was still loading (bootstrap).
  if (io.signal.aborted) throw new InterruptedError(interruptedMessage(io.signal));
  const cli = parseCli(io.argv);
  if (cli.command !== 'run') io.stdoutIsProduct = true;
  if (cli.command === 'help') {
    io.stdout.write(`${cli.text}\n`);
    return { code: 0 };
  }
  if (cli.command === 'run' && cli.summaryFile !== undefined) {
    // Written whatever the outcome (docs/summary-file.md): registered before the checks below.
    const dataDir = resolveDataDir({ cliData: cli.data, env: io.env, exists: existsSync });
    await checkSummaryPath(cli.summaryFile, dataDir);
    session.summaryFile = cli.summaryFile;
  }
  checkRunId(io.env, masker);
  checkTimingKnobs(io.env);
  checkSliceKnobs(io.env);
  // The cloud SDKs' own variables point transfers at emulators (docs/providers.md); a value that
  // is not a URL is exit 1 naming it, before any request.
  const endpoints = endpointsFromEnv(io.env);
  if (cli.command === 'token') return { code: await runToken(cli, io, masker) };
  const dataDir = resolveDataDir({ cliData: cli.data, env: io.env, exists: existsSync });
  const limits = checkedLimits(io.env);
  const { action, config } = await readConfig(cli, dataDir, limits, io.env, masker);
  if (action !== 'run') io.stdoutIsProduct = true;
  // The action may come from config.json: a flag it would not read is refused, not ignored.
  checkFlagsOfAction(cli, action);
  // A signal that came while Node loaded the job is delivered by now: still before any work.
  if (io.signal.aborted) throw new InterruptedError(interruptedMessage(io.signal));
  const { logger, structured, progressView } = startLogging(
    io,
    masker,
    cli,
    config,
    action,
    session,
  );
  const sourceRetries = new RetryNotes();
  const source = buildClient(
    config.source,
    'source',
    { io, masker, logger, limits },
    sourceRetries,
  );
  const selection = selectionOf(cli);
  const prepared: Prepared = {
    io,
    masker,
    config,
    dataDir,
    limits,
    logger,
    source,
    sourceRetries,
    selection,
  };
  if (action !== 'run') {
    return answerSyncAction(action, prepared, cli.command === 'run' && cli.dryRun);
  }
  const report = await runTables(prepared, endpoints, progressView, record);
  return logReport(logger, report, structured, masker, exitContextOf(io.env));
}

/**
 * The action's logger, recorded in the session for the ending; on a terminal, `run` draws a
 * progress bar and its log lines land above it. `structured` is true for JSON and GELF logs.
 */
function startLogging(
  io: Io,
  masker: SecretMasker,
  cli: DataCli,
  config: Config,
  action: 'run' | SyncAction,
  session: Session,
): { logger: Logger; structured: boolean; progressView: TtyProgressView | undefined } {
  const target = chooseLogTarget({
    env: io.env,
    stdoutIsTty: io.stdout.isTTY === true,
    requested: cli.logFormat,
  });
  session.target = target;
  const progressView =
    action === 'run' && io.stdout.isTTY === true && target.kind === 'text'
      ? new TtyProgressView(io.stdout, (text) => masker.mask(text))
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
  return { logger, structured: target.kind !== 'text', progressView };
}

/**
 * Reads `config.json` within its cap, registers its secrets, and parses it for the action chosen
 * ({@link chooseAction}), with the runner's default bucket where the config names none.
 */
async function readConfig(
  cli: DataCli,
  dataDir: string,
  limits: Limits,
  env: NodeJS.ProcessEnv,
  masker: SecretMasker,
): Promise<{ action: 'run' | SyncAction; config: Config }> {
  await checkConfigSize(dataDir, limits.maxConfigBytes);
  const raw = await loadRawConfig(dataDir);
  masker.addHashKeys(raw);
  const action = chooseAction(cli, raw, masker);
  const parsed = parseOrThrow(raw, action);
  const defaultBucket = parsed.defaultBucket ?? runnerDefaultBucket(env, raw);
  const config = defaultBucket === undefined ? parsed : { ...parsed, defaultBucket };
  masker.add(config.source.token);
  masker.add(config.destination?.token);
  checkRunId(env, masker);
  return { action, config };
}

/** The tables the command line selects (`--table`, `--full-refresh`, `--shard`). */
function selectionOf(cli: DataCli): Selection {
  return {
    only: cli.tables,
    fullRefresh: cli.command === 'run' ? cli.fullRefresh : [],
    fullRefreshAll: cli.command === 'run' && cli.fullRefreshAll,
    shard: cli.shard,
  };
}

/**
 * A sync action: exactly one JSON document on stdout (indented for `--dry-run`), within the
 * deadline (docs/sync-actions.md); past it, one sentence naming the API and the calls that did not
 * answer.
 */
async function answerSyncAction(
  action: SyncAction,
  { io, masker, config, dataDir, limits, logger, source, sourceRetries, selection }: Prepared,
  indent: boolean,
): Promise<Ending> {
  const tracked = trackCalls(source, sourceRetries);
  // Standalone `plan` reads the destination's sync records (never writes them).
  const destinationRetries = new RetryNotes();
  const destination =
    action === 'plan' && config.destination
      ? trackCalls(
          buildClient(
            config.destination,
            'destination',
            { io, masker, logger, limits },
            destinationRetries,
          ),
          destinationRetries,
        )
      : undefined;
  const deadlineMs = actionDeadlineMsFrom(io.env);
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
        readLastActivity(
          buildTokenApi(config.source, 'source', { io, masker, logger, limits }),
          tokenId,
        ),
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
      return `The sync action "${action}" did not finish within ${deadlineMs / 1000} s: the ${stalled.api} ${describeStall(stalled.calls)}.`;
    },
  );
  // Through the masker as every other output, string by string so the document stays valid JSON:
  // a secret or token-shaped value in an API answer (a column or project name) is `[hidden]`.
  io.stdout.write(`${masker.maskedJson(document, indent ? 2 : 0)}\n`);
  return { code: 0 };
}

/**
 * `run`: checks the data folder, takes its lock, and copies the selected tables with the writer
 * of the mode; the lock is released however the run ends.
 */
async function runTables(
  { io, masker, config, dataDir, limits, logger, source, selection }: Prepared,
  endpoints: ObjectStoreEndpoints,
  progressView: TtyProgressView | undefined,
  record: RunRecord,
): Promise<RunReport> {
  // Environment faults are found before any request and before the lock (which lives in out/):
  // one sentence naming the path (docs/configuration.md, "The data folder").
  await checkDataFolder(dataDir, { tables: !config.destination, workDirName: WORK_DIR_NAME });
  // One run per data folder (docs/locking.md); sync actions write nothing and take no lock.
  const lock = await lockDataDir(dataDir, {
    warn: (message) => logger.warn(message),
    here: thisProcess(),
  });
  const signal = AbortSignal.any([io.signal, lock.lost]);
  return runSync({
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
    configRowId: io.env.KBC_CONFIGROWID,
  }).finally(() => lock.release());
}

/**
 * CLI action > `--dry-run` > `action` in config.json > `run`.
 * An action that is not a string is a config problem, and so is a name that is not an action:
 * exit 1 with the list of valid ones. The name is masked before the message cuts it, so not even
 * the start of a secret pasted as the action is shown.
 */
function chooseAction(cli: DataCli, raw: unknown, masker: SecretMasker): 'run' | SyncAction {
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
 * it should know. So is a value shaped like a token or holding a secret `masker` knows: the run
 * id is recorded unmasked in every job and in the sync record (docs/configuration.md,
 * Environment variables sent with requests). Called again once the config's secrets are known.
 * @throws UserError naming the variable, without its value
 */
function checkRunId(env: NodeJS.ProcessEnv, masker: SecretMasker): void {
  const runId = env.KBC_RUNID;
  if (runId === undefined) return;
  const problem = !isHeaderText(runId)
    ? UNSENDABLE
    : runId.length > MAX_RUN_ID_LENGTH
      ? `is ${runId.length} characters long, more than the ${MAX_RUN_ID_LENGTH} a run id may have`
      : masker.reveals(runId)
        ? 'looks like a token or holds a secret of config.json, and the run id is recorded in every job and sync record'
        : undefined;
  if (problem === undefined) return;
  throw new UserError(
    `KBC_RUNID ${problem}: set it to a plain run id such as 123456789, or unset it.`,
  );
}

type Endpoint = { readonly url: string; readonly token: string };

/** What every Storage client and token API of a process is built with. */
interface ClientContext {
  readonly io: Io;
  readonly masker: SecretMasker;
  readonly logger: Logger;
  readonly limits: Limits;
}

/**
 * The Storage API client of one project. `role` says which config key the token came from, so a
 * token that stops working mid-run is named by its key; undefined for the token commands, whose
 * tokens may come from elsewhere (KBC_MASTER_TOKEN, a new token). `retries` notes the failed
 * attempts its retry loop repeats.
 */
function buildClient(
  endpoint: Endpoint,
  role: TokenRole | undefined,
  context: ClientContext,
  retries?: RetryNotes,
): StorageClient {
  return createStorageClient({
    ...clientOptions(endpoint, role, context),
    ...(retries && { onRetry: retries.note }),
  });
}

function buildTokenApi(
  endpoint: Endpoint,
  role: TokenRole | undefined,
  context: ClientContext,
): TokenApi {
  return createTokenApi(clientOptions(endpoint, role, context));
}

/**
 * What the Storage client and the token API of one token share: the same masking, limits, run id
 * and timing. A stop aborts a token request too: `token rotate` then says what became of the
 * token (docs/tokens.md, token rotate) within the grace time of the signal.
 */
function clientOptions(
  endpoint: Endpoint,
  role: TokenRole | undefined,
  { io, masker, logger, limits }: ClientContext,
): StorageClientOptions {
  return {
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
  };
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
  // The request timeout and the other limits of a run hold for the token requests too.
  const limits = checkedLimits(io.env);
  // One line each: descriptions and names from the API are shown escaped, never raw.
  const shown = (line: string) => escapeForDisplay(masker.mask(line));
  return runTokenCommand(cli, {
    env: io.env,
    masker,
    openTokenApi: (url, token) =>
      buildTokenApi({ url, token }, undefined, { io, masker, logger, limits }),
    openStorage: (url, token) =>
      buildClient({ url, token }, undefined, { io, masker, logger, limits }),
    resolveDataDir: (cliData) => resolveDataDir({ cliData, env: io.env, exists: existsSync }),
    readConfig: loadConfigFile,
    prepareConfigWrite,
    lockDataDir: (dataDir) =>
      lockDataDir(dataDir, { warn: (line) => logger.warn(line), here: thisProcess() }),
    isFolder: async (path) => (await stat(path).catch(() => undefined))?.isDirectory() === true,
    printSecret: (token) => io.stdout.write(`${token}\n`),
    out: (text) => io.stdout.write(masker.mask(text)),
    say: (line) => io.stderr.write(`${shown(line)}\n`),
    nowMs: Date.now,
    signal: io.signal,
    deferStop: (work, ifCutShort) =>
      io.deferStop ? io.deferStop(work, shown(ifCutShort)) : work(),
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
    return new DataDirWriter(dataDir, masker, logger, {
      choice: chooseManifestFormat(config.dataTypeSupport, io.env[DATA_TYPE_SUPPORT_ENV]),
      readSourceTable: (tableId) => source.getTable(tableId),
    });
  }
  return new ProjectWriter({
    destination: config.destination,
    client: buildClient(config.destination, 'destination', { io, masker, logger, limits }),
    readSourceTable: (tableId) => source.getTable(tableId),
    openSliceSink: (prepared, refreshFile) =>
      openSliceSink(prepared, {
        refreshFile,
        endpoints,
        masker,
        logger,
        requestTimeoutMs: limits.requestTimeoutMs,
        ...timingFrom(io.env),
      }),
    logger,
    signal: io.signal,
    claimLeaseMs: claimLeaseMsFrom(io.env),
    nowMs: () => performance.now(),
    wallClockMs: Date.now,
    newClaimId: () => randomBytes(8).toString('hex'),
  });
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
  exit: ExitContext,
): Ending {
  const summary = summarize(report.outcomes, Date.now());
  if (structured) {
    for (const row of summary.rows)
      logger.info({ summary: row }, `summary ${row.table}: ${row.status}`);
  }
  // Peak resident memory of the whole process, for the Performance figures.
  const peakRssBytes = measurePeakRssBytes(() => process.resourceUsage().maxRSS);
  logger.info(
    { totals: { ...summary.totals, peakRssBytes } },
    `Summary\n${formatSummaryTable(summary)}\npeak memory (RSS) ${(peakRssBytes / 1e6).toFixed(0)} MB`,
  );
  const failed = report.outcomes.filter((o) => o.status === 'failed');
  if (failed.length === 0) return { code: 0 };
  const which = failed.map((o) => `${o.plan.sourceId}: ${failureText(o.error, exit)}`).join('; ');
  return {
    code: failed.every((o) => exitCodeFor(o.error, exit) === 1) ? 1 : 2,
    sentence: masker.mask(
      `${failed.length} of ${report.outcomes.length} table(s) failed: ${which}`,
    ),
  };
}

/**
 * User errors and interruptions: their sentence; under the runner an outage too, as a sentence
 * that says to run the job again later. Anything else: class and cause chain, exit 2.
 */
function describeFailure(error: unknown, masker: SecretMasker, exit: ExitContext): Ending {
  // One line each: control and bidi characters of names are shown escaped, never raw.
  const shown = (text: string) =>
    masker
      .mask(text)
      .split('\n')
      .map((line) => escapeForDisplay(line))
      .join('\n');
  const table = failedTableOf(error);
  const named = (text: string) => (table === undefined ? text : `Table "${table}" failed: ${text}`);
  if (exitCodeFor(error, exit) === 1) {
    return {
      code: 1,
      sentence: shown(isOutage(error) ? named(outageSentence(error)) : messageOf(error)),
    };
  }
  // An interruption says what stopped the run; a misbehaving service (an outage that outlasted
  // the retries included) its class, sentence and cause, without a stack trace; anything else is
  // a bug, with its stack: an unrecognised 4xx is a request the job should not have sent.
  if (error instanceof InterruptedError) return { code: 2, sentence: shown(named(error.message)) };
  if (error instanceof ServiceError || isOutage(error))
    return { code: 2, sentence: shown(named(classAndCause(error))) };
  return { code: 2, sentence: shown(named(describeInternalError(error))) };
}

/** Under Keboola's runner, which always sets `KBC_COMPONENTID` (docs/architecture.md, Errors). */
function exitContextOf(env: NodeJS.ProcessEnv): ExitContext {
  return { underRunner: Boolean(env.KBC_COMPONENTID) };
}

/**
 * An outage told to the user under the runner (exit 1): which service is unavailable, what it
 * answered, and that the job should run again later. Hosts, paths and buckets only, no query.
 */
function outageSentence(error: StorageApiError | ServiceError): string {
  const service =
    error instanceof StorageApiError
      ? `The Storage API${error.details.host === undefined ? '' : ` at ${error.details.host}`}`
      : error instanceof ObjectStoreError
        ? `The ${error.details.provider} file storage (bucket ${error.details.bucket})`
        : error instanceof StorageNetworkError
          ? 'The Storage API'
          : 'A file storage';
  return `${service} is unavailable: ${error.message}; run the job again later.`;
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
 * A table's failure in the run's final sentence: the user's sentence for what exits 1 (an outage
 * under the runner: {@link outageSentence}); for anything else (exit 2) its class and cause as
 * well (docs/logging.md).
 */
function failureText(error: unknown, exit: ExitContext): string {
  if (exitCodeFor(error, exit) === 1)
    return isOutage(error) ? outageSentence(error) : messageOf(error);
  return error instanceof Error ? classAndCause(error) : messageOf(error);
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
    processTable: readProcessTable(),
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

/** Process bootstrap: signals abort the run; the exit code is set, never forced, so logs drain. */
async function bootstrap(): Promise<void> {
  const stop = handleStopSignals(repeatSignalMsFrom(process.env));
  // A reader that goes away (`… | head -1`), or a log file on a full disk (ENOSPC), must not
  // crash the run half-way and leave its work folder in out/: what could not be written is
  // dropped, the run finishes and cleans up, and the exit code still tells the outcome. A failure
  // other than a reader gone is said once on the other stream, which may still work; when stdout
  // carried the command's result (a document, a new token), that result is lost: exit 1.
  const said = new Set<string>();
  for (const [stream, name, other] of [
    [process.stdout, 'stdout', process.stderr],
    [process.stderr, 'stderr', process.stdout],
  ] as const) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'error';
      if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || said.has(name)) return;
      said.add(name);
      try {
        other.write(`Writing to ${name} failed (${code}): what was written there since is lost.\n`);
      } catch {
        // Nowhere left to say it; the exit code still tells the outcome.
      }
    });
  }
  const io: Io = {
    argv: process.argv.slice(2),
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    signal: stop.signal,
    deferStop: stop.deferStop,
  };
  const code = await main(io);
  // Failures of synchronous writes (a file) are reported on the next tick: let them arrive.
  await new Promise((resolve) => setImmediate(resolve));
  process.exitCode = said.has('stdout') && io.stdoutIsProduct === true && code === 0 ? 1 : code;
  // The outcome is decided and its exit code set: a signal from now on (a stop that comes while a
  // hanging request keeps the process open) must not turn it into a kill (exit 143), so the
  // signals stay handled, and ignored, until the process exits.
  stop.uninstall();
  const ignoreSignal = () => undefined;
  process.on('SIGTERM', ignoreSignal);
  process.on('SIGINT', ignoreSignal);
  // Everything the run owes is written: exit once stdout and stderr have taken it, so that a
  // request still hanging (a sync action past its deadline) does not hold the process open and a
  // sync action ends within Keboola's 30 s (docs/sync-actions.md, Deadline). Should a stream never
  // drain (a reader that stopped reading), exit anyway after EXIT_GRACE_MS.
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
  await Promise.all([process.stdout, process.stderr].map(drained));
  process.exit();
}

const EXIT_GRACE_MS = 2_000;

/**
 * The process's handlers of SIGTERM and SIGINT, installed at once (the recording handlers of
 * early-signals.ts go only now, so no signal finds none; one they recorded is handled as if it
 * came now). The first signal aborts `signal`, and the process is forced to end
 * {@link SIGNAL_GRACE_MS} later should anything still hold it, or that long after the last section
 * run by `deferStop` has settled. A later signal, `repeatMs` after the first or more, ends
 * the process at once with 130, writing the `ifCutShort` sentence of every such section still
 * running (docs/faults.md, Interrupted runs).
 */
function handleStopSignals(repeatMs: number): {
  readonly signal: AbortSignal;
  readonly deferStop: <T>(work: () => Promise<T>, ifCutShort: string) => Promise<T>;
  /** Removes the handlers: the outcome is decided. */
  uninstall(): void;
} {
  const abort = new AbortController();
  let firstSignalMs: number | undefined;
  /** The `ifCutShort` sentences of the sections running, one entry per section. */
  const deferred = new Set<{ readonly ifCutShort: string }>();
  let forcedExitDue = false;
  const forceExit = () => {
    process.stderr.write('Stopped: the run did not wind down within 1.5 s of the signal.\n');
    process.exit(2);
  };
  const afterGrace = (exit: () => void) => setTimeout(exit, SIGNAL_GRACE_MS).unref();
  const onSignal = (signal: NodeJS.Signals) => {
    const nowMs = performance.now();
    if (firstSignalMs !== undefined) {
      if (nowMs - firstSignalMs < repeatMs) return;
      for (const { ifCutShort } of deferred) process.stderr.write(`${ifCutShort}\n`);
      process.exit(130);
    }
    firstSignalMs = nowMs;
    // main() logs the signal (above the progress bar) and ends with it in its final sentence.
    abort.abort(signal);
    // Every request, wait and slice listens to the signal; should anything still hold the run,
    // stop anyway. Finished tables are complete, and the work folder is removed by the next run.
    afterGrace(() => {
      if (deferred.size === 0) forceExit();
      else forcedExitDue = true;
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const early = takeEarlySignal();
  if (early !== undefined) onSignal(early);
  return {
    signal: abort.signal,
    async deferStop(work, ifCutShort) {
      const section = { ifCutShort };
      deferred.add(section);
      try {
        return await work();
      } finally {
        deferred.delete(section);
        if (deferred.size === 0 && forcedExitDue) {
          forcedExitDue = false;
          afterGrace(forceExit);
        }
      }
    },
    uninstall() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

/** Resolves once what was written to `stream` before has been handed to the system. */
function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

// Run only as the entry point, not when imported.
if (isEntryPoint) void bootstrap();
