/**
 * What a benchmark tool owes when it is stopped (Ctrl-C, `kill`). The emulator's work folder holds
 * the generated table's slices (1.5 GB at 1 GiB), and every measured run its own data folder; a
 * process ended by the signal's default action leaves them in the temporary folder for good. So
 * everything goes into one folder, removed at once on a stop. The emulator is not closed first:
 * the process ends anyway, and a close would wait for the write in progress.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

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
  const root = await mkdtemp(join(tmpdir(), 'kbc-bench-'));
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
