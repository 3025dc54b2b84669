/** Child-process timing and peak-RSS measurement for the benchmark (Linux /proc). */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Measured {
  readonly code: number | null;
  readonly seconds: number;
  /** Peak resident set (VmHWM of /proc/<pid>/status, polled), bytes; 0 when unreadable. */
  readonly peakRssBytes: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** VmHWM (peak RSS) of a live process in bytes, or undefined once it is gone. */
export function peakRssOf(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * Runs a command, polling its VmHWM every `pollMs` (the peak only grows, so the last reading before
 * exit is the process's peak, up to what it grew in its last `pollMs`).
 */
export function measure(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; pollMs?: number } = {},
): Promise<Measured> {
  const started = performance.now();
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let peak = 0;
  const poll = setInterval(() => {
    if (child.pid !== undefined) peak = Math.max(peak, peakRssOf(child.pid) ?? 0);
  }, options.pollMs ?? 25);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearInterval(poll);
      reject(error);
    });
    child.once('exit', () => {
      // The process is a zombie until reaped: /proc still answers briefly; read once more.
      if (child.pid !== undefined) peak = Math.max(peak, peakRssOf(child.pid) ?? 0);
    });
    child.once('close', (code) => {
      clearInterval(poll);
      resolve({
        code,
        seconds: (performance.now() - started) / 1000,
        peakRssBytes: peak,
        stdout,
        stderr,
      });
    });
  });
}
