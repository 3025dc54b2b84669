/**
 * What a benchmark tool owes when it is stopped (Ctrl-C, `kill`). The emulator's work folder holds
 * the generated table's slices (1.5 GB at 1 GiB), and every measured run its own data folder; a
 * process ended by the signal's default action leaves them in the temporary folder for good. So
 * everything goes into one folder, removed at once on a stop. The emulator is not closed first:
 * the process ends anyway, and a close would wait for the write in progress. A process killed
 * outright (SIGKILL, the OOM killer) runs nothing: its folder carries its process id, and the next
 * benchmark or probe removes the folders whose process is gone.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;
/** `kbc-bench-<pid>-<random>`: the process id says whether its owner still runs. */
const FOLDER_PREFIX = 'kbc-bench-';
const FOLDER_PID = new RegExp(`^${FOLDER_PREFIX}(\\d+)-`);

/**
 * The benchmark folders among `names` whose owning process is gone (`isRunning` false): left by a
 * killed benchmark. Folders of a running benchmark, and names without a process id (made before
 * folders carried one), are kept.
 */
export function leftFolders(
  names: readonly string[],
  isRunning: (pid: number) => boolean,
): string[] {
  return names.filter((name) => {
    const pid = FOLDER_PID.exec(name)?.[1];
    return pid !== undefined && !isRunning(Number(pid));
  });
}

/** Whether a process with this id exists (signal 0 checks without sending anything). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function removeLeftFolders(folder: string): Promise<void> {
  for (const name of leftFolders(await readdir(folder), isRunning)) {
    process.stdout.write(`removing ${join(folder, name)}, left by a benchmark that was killed\n`);
    await rm(join(folder, name), { recursive: true, force: true });
  }
}

export interface BenchFolder {
  /** For `startEmulator({ workDir })`. */
  readonly emulatorDir: string;
  /** Removes the whole folder; call after the emulator was closed. */
  remove(): Promise<void>;
}

/**
 * Makes the benchmark's folder and points `TMPDIR` into it, so that every later temporary folder
 * of this process (`os.tmpdir()` reads the variable on each call) lands inside. On SIGINT or
 * SIGTERM it runs `onStop` (synchronous: ending the measured processes), removes the folder and
 * exits with 128 + the signal's number.
 */
export async function benchFolder(onStop: () => void): Promise<BenchFolder> {
  await removeLeftFolders(tmpdir());
  const root = await mkdtemp(join(tmpdir(), `${FOLDER_PREFIX}${process.pid}-`));
  const scratch = join(root, 'tmp');
  await mkdir(scratch);
  process.env.TMPDIR = scratch;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      onStop();
      rmSync(root, { recursive: true, force: true });
      process.exit(128 + SIGNAL_NUMBERS[signal]);
    });
  }
  return {
    emulatorDir: join(root, 'emulator'),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
