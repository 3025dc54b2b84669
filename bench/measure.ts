/** Child-process timing, CPU and peak-RSS measurement for the benchmark (Linux /proc). */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Measured {
  readonly code: number | null;
  readonly seconds: number;
  /** Peak resident set (VmHWM of /proc/<pid>/status, polled), bytes; 0 when unreadable. */
  readonly peakRssBytes: number;
  /** User + system CPU of the child and its descendants, seconds (10 ms resolution). */
  readonly cpuSeconds: number;
  /**
   * User + system CPU of this process while the child ran, seconds: the in-process emulator
   * serving the child, plus the benchmark's own polling (small).
   */
  readonly hostCpuSeconds: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** VmHWM (peak RSS) of a live process in bytes, or undefined once it is gone. */
function peakRssOf(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS_PER_SECOND = clockTicksPerSecond();

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/**
 * CPU seconds of this process's reaped children (cutime + cstime of /proc/self/stat). A child's
 * CPU is added once it has been reaped, so the difference around one awaited child is its CPU.
 */
export function reapedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the parenthesised command name start at field 3 (state); cutime is field 16.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND;
}

/** User + system CPU of this process (every thread) since `start`, seconds. */
function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

export interface MeasureOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly pollMs?: number;
}

/** What {@link measureHere} measures: all of {@link Measured} but the host's CPU. */
export type ChildMeasured = Omit<Measured, 'hostCpuSeconds'>;

/** Commands {@link measureHere} started that have not ended: a stopped benchmark ends them. */
const running = new Set<ChildProcess>();

/** Kills every measured command still running (bench/on-stop.ts). */
export function killMeasured(): void {
  for (const child of running) child.kill('SIGKILL');
}

/**
 * Runs a command, polling its VmHWM every `pollMs` (the peak only grows, so the last reading before
 * exit is the process's peak, up to what it grew in its last `pollMs`).
 */
export function measureHere(
  command: string,
  args: readonly string[],
  options: MeasureOptions = {},
): Promise<ChildMeasured> {
  const started = performance.now();
  const childrenCpuBefore = reapedChildrenCpuSeconds();
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
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
      running.delete(child);
      clearInterval(poll);
      reject(error);
    });
    child.once('exit', () => {
      // The process is a zombie until reaped: /proc still answers briefly; read once more.
      if (child.pid !== undefined) peak = Math.max(peak, peakRssOf(child.pid) ?? 0);
    });
    child.once('close', (code) => {
      running.delete(child);
      clearInterval(poll);
      resolve({
        code,
        seconds: (performance.now() - started) / 1000,
        peakRssBytes: peak,
        cpuSeconds: reapedChildrenCpuSeconds() - childrenCpuBefore,
        stdout,
        stderr,
      });
    });
  });
}

/** A request to the launcher (bench/launcher.ts) and its answer. */
export interface LaunchRequest {
  readonly id: number;
  readonly command: string;
  readonly args: readonly string[];
  readonly options: MeasureOptions;
}
export type LaunchAnswer =
  | { readonly id: number; readonly measured: ChildMeasured }
  | { readonly id: number; readonly error: string };

/**
 * The small process that starts the measured commands. Linux's fork copies the parent's page
 * tables, about 37 ms per GB of parent RSS on this machine; the benchmark holds the emulator and
 * its tables (1.4 GB at 1 GiB), so a command started from it would pay 50 to 150 ms that no
 * scheduler starting the job pays (docs/performance.md, "Starting the measured process").
 */
let launcher: ChildProcess | undefined;
let nextRequestId = 1;
const pending = new Map<number, (answer: LaunchAnswer) => void>();

/**
 * Fails every request still waiting, so that a launcher that died ends the benchmark instead of
 * hanging it.
 */
function failPending(reason: string): void {
  for (const [id, settle] of pending) settle({ id, error: reason });
  pending.clear();
}

/** Starts the launcher; call it before the benchmark grows (before the emulator starts). */
export async function startLauncher(): Promise<void> {
  const child = fork(join(import.meta.dirname, 'launcher.js'), [], {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('message', (answer: LaunchAnswer) => {
    pending.get(answer.id)?.(answer);
    pending.delete(answer.id);
  });
  child.once('exit', (code, signal) => {
    if (launcher === child) launcher = undefined;
    failPending(`the benchmark's launcher exited (${signal ?? String(code)})`);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  launcher = child;
}

/** Stops the launcher (it exits when its channel closes). */
export function stopLauncher(): void {
  launcher?.disconnect();
  launcher = undefined;
}

function viaLauncher(
  child: ChildProcess,
  command: string,
  args: readonly string[],
  options: MeasureOptions,
): Promise<ChildMeasured> {
  const request: LaunchRequest = { id: nextRequestId++, command, args, options };
  return new Promise((resolve, reject) => {
    pending.set(request.id, (answer) =>
      'error' in answer ? reject(new Error(answer.error)) : resolve(answer.measured),
    );
    child.send(request);
  });
}

/**
 * Runs a command and measures it ({@link measureHere}), through the launcher once it is started,
 * and adds the CPU this process used meanwhile (the in-process emulator serving the command).
 */
export async function measure(
  command: string,
  args: readonly string[],
  options: MeasureOptions = {},
): Promise<Measured> {
  const hostCpuBefore = process.cpuUsage();
  const measured = launcher
    ? await viaLauncher(launcher, command, args, options)
    : await measureHere(command, args, options);
  return { ...measured, hostCpuSeconds: cpuSecondsSince(hostCpuBefore) };
}
