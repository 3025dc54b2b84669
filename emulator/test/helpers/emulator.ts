/** The emulator's own tests use the package's vitest fixture (`src/vitest.ts`). */
export { useEmulator } from '../../src/vitest.js';
export { DEMO_SEED_FILE } from '../../src/index.js';
