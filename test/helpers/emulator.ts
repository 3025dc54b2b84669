/** The job's tests start the emulator through the package's vitest fixture (its public entry). */
export { useEmulator } from 'keboola-storage-emulator/vitest';
