/**
 * `--summary-file PATH`: the run's result as one JSON document for orchestrators (schema in
 * docs/summary-file.md). Built by a pure function; written once when the run ends, whatever the
 * outcome, through a temporary file and a rename, so a reader never sees half a document.
 */
import { realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { UserError } from './errors.js';
import type { TableOutcome } from './run.js';
import type { SecretMasker } from './secrets.js';
import { summarize } from './summary.js';

const SUMMARY_FILE_VERSION = 1;

type RunStatus = 'success' | 'partial' | 'failed';

interface SummaryFileTable {
  readonly source: string;
  readonly destination: string;
  readonly pattern: string | null;
  readonly mode: 'full' | 'append' | 'upsert';
  readonly window: { readonly since: string | null; readonly until: string | null } | null;
  readonly status: string;
  readonly rows: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly error: string | null;
}

export interface SummaryFileDocument {
  readonly version: typeof SUMMARY_FILE_VERSION;
  readonly status: RunStatus;
  readonly exitCode: number;
  /** The run's final sentence when it did not succeed (also written to stderr). */
  readonly error: string | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly totals: {
    readonly tables: number;
    readonly succeeded: number;
    readonly failed: number;
    readonly skipped: number;
    readonly rows: number;
    readonly bytes: number;
    readonly seconds: number;
    readonly megabytesPerSecond: number;
  };
  readonly tables: readonly SummaryFileTable[];
}

/** Builds the document (pure). `outcomes` is empty when the run ended before any table started. */
export function summaryDocument(input: {
  readonly outcomes: readonly TableOutcome[];
  readonly exitCode: number;
  readonly error: string | undefined;
  readonly startedAtMs: number;
  readonly nowMs: number;
}): SummaryFileDocument {
  const { outcomes, exitCode } = input;
  const summary = summarize(outcomes, input.nowMs);
  const count = (status: string) => outcomes.filter((o) => o.status === status).length;
  const succeeded = count('success');
  const status: RunStatus = exitCode === 0 ? 'success' : succeeded > 0 ? 'partial' : 'failed';
  const iso = (unixSeconds: number | undefined) =>
    unixSeconds === undefined ? null : new Date(unixSeconds * 1000).toISOString();
  return {
    version: SUMMARY_FILE_VERSION,
    status,
    exitCode,
    error: input.error ?? null,
    startedAt: new Date(input.startedAtMs).toISOString(),
    finishedAt: new Date(input.nowMs).toISOString(),
    totals: {
      tables: outcomes.length,
      succeeded,
      failed: count('failed'),
      skipped: outcomes.length - succeeded - count('failed'),
      ...summary.totals,
    },
    tables: outcomes.map((o, i) => {
      const row = summary.rows[i];
      return {
        source: o.plan.sourceId,
        destination: o.progress.destination,
        pattern: o.plan.pattern ?? null,
        mode: o.plan.mode,
        window: o.window ? { since: iso(o.window.since), until: iso(o.window.until) } : null,
        status: o.status,
        rows: row?.rows ?? 0,
        bytes: row?.bytes ?? 0,
        seconds: row?.seconds ?? 0,
        error: row?.error ?? null,
      };
    }),
  };
}

/**
 * Checks before the run that the summary file can be written and would overwrite none of the
 * job's own files (config.json, in/, out/ of the data folder), so a mistake fails at once (exit 1)
 * instead of after the data moved, or by replacing the configuration or the state.
 * @throws UserError naming the path
 */
export async function checkSummaryPath(path: string, dataDir: string): Promise<void> {
  const named = `--summary-file ${JSON.stringify(path)}`;
  if (path.trim() === '') throw new UserError('--summary-file needs a file path.');
  const target = resolve(path);
  const folder = dirname(target);
  if (await liesInJobFiles(target, dataDir)) {
    throw new UserError(
      `${named} lies in the data folder's config.json, in/ or out/, which the job and the Keboola runner read and write: put the summary somewhere else.`,
    );
  }
  const info = await stat(folder).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new UserError(`${named}: the folder ${JSON.stringify(folder)} does not exist.`);
  }
  if ((await stat(target).catch(() => undefined))?.isDirectory()) {
    throw new UserError(`${named} is a folder: give the path of a file.`);
  }
  const temporary = temporaryOf(target);
  if ((await stat(temporary).catch(() => undefined))?.isDirectory()) {
    throw new UserError(
      `${named} is written through ${JSON.stringify(temporary)}, which is a folder: remove it or give another path.`,
    );
  }
}

/** The file the document is written to before it is renamed to `path`. */
function temporaryOf(path: string): string {
  return `${path}.tmp`;
}

/** Whether `target` is the data folder's config.json or lies in its in/ or out/, links resolved. */
async function liesInJobFiles(target: string, dataDir: string): Promise<boolean> {
  const real = async (path: string) => realpath(path).catch(() => path);
  const targets = [target, join(await real(dirname(target)), basename(target))];
  const dataDirs = [resolve(dataDir), await real(resolve(dataDir))];
  return dataDirs.some((dir) =>
    ['config.json', 'in', 'out']
      .map((name) => join(dir, name))
      .some((place) => targets.some((t) => t === place || t.startsWith(place + sep))),
  );
}

/**
 * Writes the document, each string masked on its own, through `<path>.tmp` and a rename. When a
 * step fails, the temporary file is removed and the step's own error is thrown: a failed removal
 * (the temporary path became a folder, which is not the job's to remove) never takes its place
 * (docs/summary-file.md).
 */
export async function writeSummaryFile(
  path: string,
  document: SummaryFileDocument,
  masker: Pick<SecretMasker, 'maskedJson'>,
): Promise<void> {
  const temporary = temporaryOf(path);
  try {
    await writeFile(temporary, `${masker.maskedJson(document, 2)}\n`);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}
