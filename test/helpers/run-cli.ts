import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** The built CLI; integration tests drive it exactly as a user or the Keboola runner would. */
export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunCliOptions {
  readonly env?: Record<string, string | undefined>;
  /** Kill the child with this signal once `killWhen` sees its output match. */
  readonly killWhen?: { readonly pattern: RegExp; readonly signal: NodeJS.Signals };
  /** Upper bound for the child's run; it is killed after this (tests never hang). */
  readonly timeoutMs?: number;
  readonly nodeArgs?: readonly string[];
}

/** Runs `node dist/main.js ...args` and collects its output. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let killed = false;
  const watch = (text: string) => {
    if (!killed && options.killWhen?.pattern.test(stdout + stderr)) {
      killed = true;
      child.kill(options.killWhen.signal);
    }
    return text;
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    watch(stdout);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    watch(stderr);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 110_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A fresh data folder with config.json (and optionally in/state.json). */
export async function makeDataDir(config: unknown, state?: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kts-data-'));
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
