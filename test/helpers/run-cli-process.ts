/**
 * The built CLI as a real child process, for tests where the process itself matters: SIGKILL and
 * SIGTERM at a named moment (crash matrix). Other tests use `runCli`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, type CliResult } from './run-cli.js';

export interface CliProcess {
  readonly child: ChildProcess;
  /** Resolves when the child has exited, with its output. */
  readonly done: Promise<CliResult>;
  /** Sends a signal (no-op once exited). */
  kill(signal: NodeJS.Signals): void;
}

/** Starts `node dist/main.js ...args`; it is SIGKILLed after `timeoutMs` (tests never hang). */
export function runCliProcess(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
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
  };
}
