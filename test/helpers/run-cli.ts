import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/main.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The built CLI, for the few tests where the process itself matters (see {@link runCliProcess}). */
export const CLI = join(ROOT, 'dist', 'main.js');

/**
 * Node's compile cache for the CLI's child processes (`NODE_COMPILE_CACHE`, Node 22.1 and later;
 * Node 20 ignores it). Every child compiles the same `dist/` and `node_modules` files: with the
 * cache, the children after the first load the compiled code instead. Node keys the entries by
 * its version and each file's content, so a rebuilt file is compiled again. Under
 * `node_modules/.cache`, so a clean clone starts without it.
 */
const COMPILE_CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'kbc-table-sync-compile');

export interface CliResult {
  /** The exit code; null when the process was killed by a signal. */
  readonly code: number | null;
  /** The signal that killed the process; always null for an in-process run. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunCliOptions {
  readonly env?: Record<string, string | undefined>;
  /**
   * Interrupt the run with this signal once its output matches `pattern`. SIGTERM and SIGINT
   * abort the run's signal, as the process bootstrap does; SIGKILL needs a real process.
   */
  readonly killWhen?: { readonly pattern: RegExp; readonly signal: NodeJS.Signals };
  /** Upper bound for the run; it is stopped after this (tests never hang). */
  readonly timeoutMs?: number;
  /** Node flags (such as `--max-old-space-size`): they need a real process. */
  readonly nodeArgs?: readonly string[];
  /** Another copy of the built job to run (real process only); default {@link CLI}. */
  readonly cli?: string;
}

const DEFAULT_TIMEOUT_MS = 110_000;
/** How long an in-process run may take to stop after its deadline aborted it. */
const STOP_GRACE_MS = 10_000;

/** The environment a run sees: the test's variables on top of PATH and HOME, nothing else. */
function cliEnv(options: RunCliOptions): Record<string, string | undefined> {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env };
}

/**
 * Runs the CLI with `args` and collects its output. The run is `main(io)` in this process, with
 * the argv, env, stdout, stderr and abort signal injected: the same code path as `dist/main.js`
 * without the cost of a Node start. Runs that need a real process (SIGKILL, Node flags) go
 * through {@link runCliProcess}.
 */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  if (options.nodeArgs !== undefined || options.killWhen?.signal === 'SIGKILL') {
    return runCliProcess(args, options);
  }
  return runCliInProcess(args, options);
}

/** Collects what a run writes and calls `onText` with the text so far after every write. */
class CapturedOutput {
  text = '';
  readonly stream: Writable;
  constructor(onText: () => void) {
    this.stream = new Writable({
      write: (chunk: Buffer | string, _encoding, callback) => {
        this.text += chunk.toString();
        onText();
        callback();
      },
    });
  }
}

async function runCliInProcess(
  args: readonly string[],
  options: RunCliOptions,
): Promise<CliResult> {
  const abort = new AbortController();
  const watch = () => {
    const kill = options.killWhen;
    if (kill && !abort.signal.aborted && kill.pattern.test(stdout.text + stderr.text)) {
      abort.abort(kill.signal);
    }
  };
  const stdout = new CapturedOutput(watch);
  const stderr = new CapturedOutput(watch);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let stopTimer: NodeJS.Timeout | undefined;
  const stopped = new Promise<never>((_resolve, reject) => {
    stopTimer = setTimeout(() => {
      abort.abort(new Error(`in-process run passed its ${timeoutMs} ms limit`));
      stopTimer = setTimeout(
        () => reject(new Error(`in-process run did not stop within ${STOP_GRACE_MS} ms`)),
        STOP_GRACE_MS,
      );
    }, timeoutMs);
  });
  try {
    const code = await Promise.race([
      main({
        argv: args,
        env: cliEnv(options),
        stdout: stdout.stream,
        stderr: stderr.stream,
        signal: abort.signal,
      }),
      stopped,
    ]);
    // Let writes queued in the same turn land before the output is read.
    await new Promise((resolve) => setImmediate(resolve));
    return { code, signal: null, stdout: stdout.text, stderr: stderr.text };
  } finally {
    clearTimeout(stopTimer);
  }
}

/** A running child process of the built CLI (see {@link startCliProcess}). */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Resolves when the child has exited, with its output. */
  readonly done: Promise<CliResult>;
  /** Sends a signal (no-op once exited). */
  kill(signal: NodeJS.Signals): void;
  /** When `killWhen` sent its signal (epoch ms), if it did. */
  readonly signalledAtMs: number | undefined;
}

/**
 * Starts `node [nodeArgs] dist/main.js ...args` as a child process, for the tests where the process
 * matters (signals from outside at a named moment, SIGKILL, exit codes, memory limits). It is
 * SIGKILLed after `timeoutMs` (tests never hang). Needs `npm run build`.
 */
export function startCliProcess(args: readonly string[], options: RunCliOptions = {}): CliProcess {
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), options.cli ?? CLI, ...args],
    {
      env: { NODE_COMPILE_CACHE: COMPILE_CACHE_DIR, ...cliEnv(options) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  let signalledAtMs: number | undefined;
  const watch = () => {
    if (signalledAtMs === undefined && options.killWhen?.pattern.test(stdout + stderr)) {
      signalledAtMs = Date.now();
      child.kill(options.killWhen.signal);
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    watch();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    watch();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    done,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    get signalledAtMs() {
      return signalledAtMs;
    },
  };
}

/** {@link startCliProcess}, resolving with the output once the child has exited. */
export function runCliProcess(
  args: readonly string[],
  options: RunCliOptions = {},
): Promise<CliResult> {
  return startCliProcess(args, options).done;
}

/**
 * Data folders made by {@link makeDataDir} and not yet removed; `test/helpers/remove-data-dirs.ts`
 * (a Vitest setup file) removes them after each test file.
 */
const madeDataDirs = new Set<string>();

/** A fresh data folder with config.json (and optionally in/state.json). */
export async function makeDataDir(config: unknown, state?: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kts-data-'));
  madeDataDirs.add(dir);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if (state !== undefined) {
    await mkdir(join(dir, 'in'), { recursive: true });
    await writeFile(join(dir, 'in', 'state.json'), JSON.stringify(state));
  }
  return dir;
}

/** Moves out/state.json to in/state.json, as the Keboola runner does between runs. */
export async function carryState(dataDir: string): Promise<void> {
  const state = await readFile(join(dataDir, 'out', 'state.json'), 'utf8');
  await mkdir(join(dataDir, 'in'), { recursive: true });
  await writeFile(join(dataDir, 'in', 'state.json'), state);
}

/** Removes every data folder {@link makeDataDir} made so far. */
export async function removeMadeDataDirs(): Promise<void> {
  const dirs = [...madeDataDirs];
  madeDataDirs.clear();
  await Promise.all(dirs.map(removeDir));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Every file under a folder, relative paths, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(current: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.push(relative(dir, path));
    }
  }
  await walk(dir);
  return out.sort();
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Parses pino JSON lines from stdout (non-JSON lines are skipped). */
export function logLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}
