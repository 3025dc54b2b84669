import { readFile } from 'node:fs/promises';
import { startCliProcess } from './run-cli.js';

/**
 * Runs the built job (`node dist/main.js`) as a real child process and measures it, for the cases
 * where the process itself matters: its peak resident memory (VmHWM from /proc/<pid>/status,
 * polled; the kernel keeps the high-water mark, so polling misses nothing but the last few ms),
 * its wall time, and its reaction to signals. Every run is bounded by `timeoutMs` (SIGKILL).
 */
export interface JobProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Peak resident set of the child in bytes (0 where /proc is not available). */
  readonly peakRssBytes: number;
  readonly wallMs: number;
  /** Milliseconds from the signal sent by `signalWhen` to the exit; undefined without one. */
  readonly exitAfterSignalMs?: number;
}

export interface JobProcessOptions {
  readonly env?: Record<string, string | undefined>;
  readonly timeoutMs?: number;
  /** Sends `signal` once the output matches `pattern`. */
  readonly signalWhen?: { readonly pattern: RegExp; readonly signal: NodeJS.Signals };
}

const POLL_MS = 20;

export async function runJobProcess(
  args: readonly string[],
  options: JobProcessOptions = {},
): Promise<JobProcessResult> {
  const startMs = Date.now();
  const run = startCliProcess(args, {
    ...(options.env && { env: options.env }),
    timeoutMs: options.timeoutMs ?? 60_000,
    ...(options.signalWhen && { killWhen: options.signalWhen }),
  });
  let peakRssBytes = 0;
  const poll = setInterval(() => {
    void readPeakRss(run.child.pid).then((bytes) => {
      peakRssBytes = Math.max(peakRssBytes, bytes);
    });
  }, POLL_MS);
  try {
    const result = await run.done;
    const endMs = Date.now();
    const signalledAtMs = run.signalledAtMs;
    return {
      ...result,
      peakRssBytes,
      wallMs: endMs - startMs,
      ...(signalledAtMs !== undefined && { exitAfterSignalMs: endMs - signalledAtMs }),
    };
  } finally {
    clearInterval(poll);
  }
}

async function readPeakRss(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}
