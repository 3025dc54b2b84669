#!/usr/bin/env node
/**
 * Composition root (style.md P1): the only module that touches `process`. It parses argv, reads the
 * config, builds the logger, the Storage clients and the writer, runs the action and maps the
 * outcome to the exit code: 0 success, 1 user error, 2 anything else (design §8).
 */
import { existsSync, realpathSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { isSyncAction, runSyncAction, type SyncAction } from './actions/sync-actions.js';
import { parseCli, type CliArgs } from './cli.js';
import { resolveChangedSince } from './config/changed-since.js';
import { checkConfigSize, loadRawConfig, resolveDataDir } from './config/load-raw-config.js';
import { parseConfig } from './config/parse-config.js';
import type { Config } from './config/types.js';
import {
  ConfigError,
  InterruptedError,
  ServiceError,
  UserError,
  exitCodeFor,
  isUserFixable,
  messageOf,
} from './errors.js';
import { limitsFromEnv, type Limits } from './limits.js';
import { createLogger, type Logger } from './logger.js';
import { endpointsFromEnv } from './objects/endpoints.js';
import { openSliceSink } from './objects/slice-sink.js';
import { openSliceSource } from './objects/slice-source.js';
import type { ObjectStoreEndpoints } from './objects/types.js';
import { DataDirWriter } from './output/data-dir-writer.js';
import type { OutputWriter } from './output/output-writer.js';
import { ProjectWriter } from './output/project-writer.js';
import { peakRssBytes } from './progress/memory.js';
import { TtyProgressView } from './progress/progress-bar.js';
import { DEFAULT_TUNING, runSync, type RunReport, type Tuning } from './run.js';
import { SecretMasker } from './secrets.js';
import type { RetryOptions } from './retry/retry-policy.js';
import { createStorageClient, type PollOptions } from './storage/storage-client.js';
import type { StorageClient } from './storage/types.js';
import { formatSummaryTable, summarize } from './summary.js';
import { escapeForDisplay } from './text/escape.js';
// Type only: the emulator is loaded on demand (it needs the dev dependencies, absent in the image).
import type * as EmulatorMain from './emulator/main.js';

export interface Io {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  /** Aborted on SIGTERM/SIGINT. */
  readonly signal: AbortSignal;
}

/** Runs the command line and returns the exit code. Never throws. */
export async function main(io: Io): Promise<number> {
  const masker = new SecretMasker();
  let logger: Logger | undefined;
  try {
    const cli = parseCli(io.argv);
    if (cli.command === 'help') {
      io.stdout.write(`${cli.text}\n`);
      return 0;
    }
    if (cli.command === 'emulator') return await runEmulator(cli);
    const dataDir = resolveDataDir({ cliData: cli.data, env: io.env, exists: existsSync });
    const limits = limitsFromEnv(io.env);
    await checkConfigSize(dataDir, limits.maxConfigBytes);
    const raw = await loadRawConfig(dataDir);
    masker.addHashKeys(raw);
    const action = chooseAction(cli, raw);
    const config = parseOrThrow(raw, action);
    masker.add(config.source.token);
    masker.add(config.destination?.token);
    // On a terminal, `run` draws a progress bar; log lines go through it to land above the bar.
    const progressView =
      action === 'run' && io.stdout.isTTY === true ? new TtyProgressView(io.stdout) : undefined;
    logger = buildLogger(io, masker, config, action, progressView?.output);
    logContext(logger, io.env, action);
    const source = buildClient(config.source, io, masker, logger, limits);
    const selection = {
      only: cli.tables,
      fullRefresh: cli.command === 'run' ? cli.fullRefresh : [],
      fullRefreshAll: cli.command === 'run' && cli.fullRefreshAll,
    };
    if (action !== 'run') {
      const document = await runSyncAction(action, {
        config,
        dataDir,
        selection,
        source,
        logger,
        nowMs: Date.now,
        resolveChangedSince,
      });
      io.stdout.write(
        `${JSON.stringify(document, null, cli.command === 'run' && cli.dryRun ? 2 : 0)}\n`,
      );
      return 0;
    }
    const endpoints = objectStoreEndpoints(io.env);
    const report = await runSync({
      config,
      dataDir,
      selection,
      logger,
      signal: io.signal,
      source,
      writer: buildWriter(config, dataDir, io, masker, logger, endpoints, limits),
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
          signal: io.signal,
        }),
      limits,
      resolveChangedSince,
      nowMs: Date.now,
      tuning: tuningFrom(io.env),
      progressView,
    });
    return logReport(logger, report);
  } catch (error) {
    return reportError(error, io, masker);
  }
}

/**
 * CLI action > `--dry-run` > `action` in config.json > `run`.
 * An action that is not a string is a config problem (exit 1). An unknown action name is exit 2,
 * as in Keboola's component libraries: the platform only sends actions the component registered,
 * so an unknown one is an integration error, not something the user typed into a form.
 */
function chooseAction(
  cli: Exclude<CliArgs, { command: 'help' | 'emulator' }>,
  raw: unknown,
): 'run' | SyncAction {
  const value: unknown = raw && typeof raw === 'object' && 'action' in raw ? raw.action : undefined;
  if (value !== undefined && value !== null && typeof value !== 'string') {
    // Never run a config whose action is not a name (an array, a number…) as if it said "run".
    throw new ConfigError([`action: must be a string such as "run", not ${typeof value}`]);
  }
  const configured = typeof value === 'string' && value !== '' ? value : 'run';
  const action = cli.command === 'action' ? cli.name : cli.dryRun ? 'plan' : configured;
  if (action === 'run' || isSyncAction(action)) return action;
  throw new Error(
    `Unknown action ${JSON.stringify(action.slice(0, 40))}: expected run, list, info, sourceInfo, testConnection or plan.`,
  );
}

function parseOrThrow(raw: unknown, action: string): Config {
  const withAction =
    raw && typeof raw === 'object' && !Array.isArray(raw) ? { ...raw, action } : raw;
  const parsed = parseConfig(withAction);
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  return parsed.config;
}

function buildLogger(
  io: Io,
  masker: SecretMasker,
  config: Config,
  action: string,
  ttyOutput?: NodeJS.WritableStream,
): Logger {
  const run = action === 'run';
  // A sync action's stdout is exactly one JSON document: its logs go to stderr, warnings up only.
  return createLogger({
    level: run ? (config.debug ? 'debug' : 'info') : 'warn',
    masker,
    out: run ? (ttyOutput ?? io.stdout) : nullStream(),
    err: io.stderr,
    pretty: run && io.stdout.isTTY === true,
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
    `kbc-table-sync ${action}${env.KBC_CONFIGROWID ? ` (configuration row ${env.KBC_CONFIGROWID})` : ''}`,
  );
}

function buildClient(
  endpoint: { url: string; token: string },
  io: Io,
  masker: SecretMasker,
  logger: Logger,
  limits: Limits,
): StorageClient {
  return createStorageClient({
    url: endpoint.url,
    token: endpoint.token,
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

function buildWriter(
  config: Config,
  dataDir: string,
  io: Io,
  masker: SecretMasker,
  logger: Logger,
  endpoints: ObjectStoreEndpoints,
  limits: Limits,
): OutputWriter {
  if (!config.destination) return new DataDirWriter(dataDir, logger);
  return new ProjectWriter({
    destination: config.destination,
    client: buildClient(config.destination, io, masker, logger, limits),
    openSliceSink: (prepared, refreshFile) =>
      openSliceSink(prepared, { refreshFile, endpoints, masker, logger, ...timingFrom(io.env) }),
    logger,
    signal: io.signal,
  });
}

/**
 * The cloud SDKs' own variables point transfers at emulators (design §3): `AWS_ENDPOINT_URL_S3`,
 * else `AWS_ENDPOINT_URL`; `STORAGE_EMULATOR_HOST` (scheme optional).
 */
export function objectStoreEndpoints(env: NodeJS.ProcessEnv): ObjectStoreEndpoints {
  return endpointsFromEnv(env);
}

/**
 * Retry and job-polling overrides (fault-injection tests use small values; production keeps the
 * defaults of docs/storage-client.md): `KBC_TABLE_SYNC_RETRY_BASE_MS`, `_RETRY_MAX_MS` (one backoff
 * step), `_RETRY_AFTER_CAP_MS` (cap of an honoured Retry-After), `_RETRY_BUDGET_MS` (total time of
 * one request), `_POLL_INITIAL_MS`, `_POLL_MAX_MS` and `_JOB_TIMEOUT_MS` (job polling deadline).
 */
export function timingFrom(env: NodeJS.ProcessEnv): {
  retry?: Partial<RetryOptions>;
  poll?: Partial<PollOptions>;
} {
  const pick = <K extends string>(names: Record<K, string>): Partial<Record<K, number>> => {
    const out: Partial<Record<K, number>> = {};
    for (const [key, name] of Object.entries(names) as [K, string][]) {
      const value = Number(env[`KBC_TABLE_SYNC_${name}`]);
      if (env[`KBC_TABLE_SYNC_${name}`] && Number.isInteger(value) && value > 0) out[key] = value;
    }
    return out;
  };
  const retry = pick({
    baseDelayMs: 'RETRY_BASE_MS',
    maxDelayMs: 'RETRY_MAX_MS',
    maxRetryAfterMs: 'RETRY_AFTER_CAP_MS',
    budgetMs: 'RETRY_BUDGET_MS',
  });
  const poll = pick({
    initialDelayMs: 'POLL_INITIAL_MS',
    maxDelayMs: 'POLL_MAX_MS',
    timeoutMs: 'JOB_TIMEOUT_MS',
  });
  return {
    ...(Object.keys(retry).length > 0 ? { retry } : {}),
    ...(Object.keys(poll).length > 0 ? { poll } : {}),
  };
}

/** Concurrency overrides for benchmarks and tests; the defaults come from the benchmark. */
function tuningFrom(env: NodeJS.ProcessEnv): Tuning {
  const int = (name: string, fallback: number) => {
    const value = Number(env[name]);
    return Number.isInteger(value) && value > 0 ? value : fallback;
  };
  return {
    slicesPerTable: int('KBC_TABLE_SYNC_SLICES_PER_TABLE', DEFAULT_TUNING.slicesPerTable),
    slicesGlobal: int('KBC_TABLE_SYNC_SLICES_GLOBAL', DEFAULT_TUNING.slicesGlobal),
    progressIntervalMs: int('KBC_TABLE_SYNC_PROGRESS_MS', DEFAULT_TUNING.progressIntervalMs),
  };
}

/** Logs the per-table summary; the exit code is 1 or 2 when a table failed (standalone mode). */
function logReport(logger: Logger, report: RunReport): number {
  const summary = summarize(report.outcomes, Date.now());
  for (const row of summary.rows)
    logger.info({ summary: row }, `summary ${row.table}: ${row.status}`);
  // Peak resident memory of the whole process, for the Performance figures.
  const peakRss = peakRssBytes();
  logger.info(
    { totals: { ...summary.totals, peakRssBytes: peakRss } },
    `Summary\n${formatSummaryTable(summary)}\npeak memory (RSS) ${(peakRss / 1e6).toFixed(0)} MB`,
  );
  const failed = report.outcomes.filter((o) => o.status === 'failed');
  if (failed.length === 0) return 0;
  logger.error(
    `${failed.length} of ${report.outcomes.length} table(s) failed: ${failed.map((o) => o.plan.sourceId).join(', ')}.`,
  );
  return failed.every((o) => isUserFixable(o.error)) ? 1 : 2;
}

/** User errors: one sentence on stderr, exit 1. Anything else: class and cause chain, exit 2. */
function reportError(error: unknown, io: Io, masker: SecretMasker): number {
  // One line each: control and bidi characters of names are shown escaped, never raw.
  if (isUserFixable(error)) {
    io.stderr.write(`${escapeForDisplay(masker.mask(messageOf(error)))}\n`);
    return 1;
  }
  if (error instanceof InterruptedError || error instanceof ServiceError) {
    io.stderr.write(`${escapeForDisplay(masker.mask(error.message))}\n`);
    return 2;
  }
  const lines = masker.mask(describeInternalError(error)).split('\n');
  io.stderr.write(`${lines.map((line) => escapeForDisplay(line)).join('\n')}\n`);
  return exitCodeFor(error);
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

type EmulatorModule = typeof EmulatorMain;

async function runEmulator(cli: Extract<CliArgs, { command: 'emulator' }>): Promise<number> {
  let emulator: EmulatorModule;
  try {
    emulator = await import('./emulator/main.js');
  } catch {
    throw new UserError(
      'The emulator needs the development dependencies: run it from a source checkout with "npm ci && npm run emulator".',
    );
  }
  await emulator.runEmulatorCli({
    ...(cli.port !== undefined ? { port: cli.port } : {}),
    ...(cli.seed !== undefined ? { seedFile: cli.seed } : {}),
  });
  return 0;
}

function nullStream(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

/** How long a signalled run may take to wind down (the contract: stopped within 2 s). */
const SIGNAL_GRACE_MS = 1_500;

/** Process bootstrap: signals abort the run; the exit code is set, never forced, so logs drain. */
async function bootstrap(): Promise<void> {
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write(`Received ${signal}: stopping; nothing new will be finished.\n`);
    abort.abort();
    // Every request, wait and slice listens to the signal; should anything still hold the run,
    // stop anyway. Finished tables are complete, and the work folder is removed by the next run.
    setTimeout(() => {
      process.stderr.write('Stopped: the run did not wind down within 1.5 s of the signal.\n');
      process.exit(2);
    }, SIGNAL_GRACE_MS).unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.exitCode = await main({
    argv: process.argv.slice(2),
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    signal: abort.signal,
  });
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
}

// Run only as the entry point (the npm bin is a symlink, so compare real paths), not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  void bootstrap();
}
