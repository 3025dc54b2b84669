/**
 * The `keboola-storage-emulator` command (see bin.ts): runs the emulator in the foreground until
 * SIGINT/SIGTERM.
 */
import { loadSeedFile } from './seed.js';
import { startEmulator } from './server.js';

export interface EmulatorCliOptions {
  /** Default 8765; 0 picks a free port (the URL line names the real one). */
  readonly port?: number;
  /** Absent: no projects and no tokens. */
  readonly seedFile?: string;
}

export const DEFAULT_EMULATOR_PORT = 8765;

/**
 * Starts the emulator on 127.0.0.1, prints its URL and the seed's tokens, and resolves after a
 * clean stop on SIGINT or SIGTERM.
 * @throws SeedError for an invalid seed file; the listen error when the port is taken.
 */
export async function runEmulatorCli(options: EmulatorCliOptions): Promise<void> {
  const seed = options.seedFile ? (await loadSeedFile(options.seedFile)).seed : undefined;
  const emulator = await startEmulator({
    port: options.port ?? DEFAULT_EMULATOR_PORT,
    ...(options.seedFile === undefined ? {} : { seedFile: options.seedFile }),
  });
  // The seed's tokens are fake, local-only credentials of the emulator (they work nowhere else),
  // and the demo needs them, so printing them is deliberate.
  const tokens = (seed?.projects ?? []).flatMap((project) =>
    project.tokens.map(
      (t) => `  project ${project.id} ${JSON.stringify(t.description ?? '')}: ${t.token}`,
    ),
  );
  process.stdout.write(
    `Storage API emulator listening on ${emulator.url} (control API at ${emulator.url}/_emulator)\n` +
      // Object transfers go to the clouds' own endpoints unless these point them here.
      `Object stores: set AWS_ENDPOINT_URL_S3=${emulator.url} and STORAGE_EMULATOR_HOST=${emulator.url} for the client\n` +
      (tokens.length > 0 ? `Local emulator tokens:\n${tokens.join('\n')}\n` : ''),
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await emulator.close();
}
