/**
 * `keboola-storage-emulator/vitest`: a fixture for vitest suites. It starts the emulator with a
 * seed in `beforeAll` (port 0 on 127.0.0.1) and closes it in `afterAll`. Use inside a `describe`
 * (or at file level). Only this entry imports vitest; the suite that uses it brings its own.
 */
import { afterAll, beforeAll } from 'vitest';
import {
  startEmulator,
  type EmulatorControl,
  type EmulatorHandle,
  type EmulatorOptions,
  type SeedInput,
} from './index.js';

export interface EmulatorFixture {
  /** `http://127.0.0.1:<port>`; valid after beforeAll. */
  readonly url: string;
  readonly control: EmulatorControl;
  readonly handle: EmulatorHandle;
}

/**
 * Registers beforeAll/afterAll hooks that run an emulator for the enclosing suite. Pass a seed
 * object, or `{ seedFile }` in `options` (e.g. `DEMO_SEED_FILE`).
 */
export function useEmulator(
  seed: SeedInput | undefined,
  options: Omit<EmulatorOptions, 'seed' | 'port'> = {},
): EmulatorFixture {
  let handle: EmulatorHandle | undefined;
  beforeAll(async () => {
    handle = await startEmulator({ ...options, ...(seed ? { seed } : {}), port: 0, quiet: true });
  });
  afterAll(async () => {
    await handle?.close();
  });
  const current = (): EmulatorHandle => {
    if (!handle) throw new Error('The emulator is not running (use it inside tests only).');
    return handle;
  };
  return {
    get url() {
      return current().url;
    },
    get control() {
      return current().control;
    },
    get handle() {
      return current();
    },
  };
}
