/**
 * Public entry of `keboola-storage-emulator`: start an emulator in-process, seed it, drive it
 * through its control API and inject faults. Everything else in this package is internal.
 */
import { fileURLToPath } from 'node:url';

export { startEmulator, type EmulatorHandle, type EmulatorOptions } from './server.js';
export { EmulatorControl, type EmulatorStats, type TokenSpec } from './control.js';
export { EmulatorClock } from './clock.js';
export type { FaultKind, FaultSpec } from './faults.js';
export type { ObjectRequestEvent } from './objects/object-store.js';
export {
  SeedError,
  loadSeedFile,
  parseSeed,
  type LoadedSeed,
  type Seed,
  type SeedInput,
  type SeedTableInput,
  type SeedTokenInput,
} from './seed.js';

/** The demo seed shipped with the package (`seed/seed.json`): two projects, sales tables. */
export const DEMO_SEED_FILE = fileURLToPath(new URL('../seed/seed.json', import.meta.url));
