/**
 * `npm start`: a complete offline demo. Starts the local Storage API emulator with the seed in
 * data/seed/ on the port named by data/config.json's `url`, runs the built job on ./data against
 * it (as a child process, exactly as a user would), prints its summary and leaves the output in
 * data/out. Exits with the job's exit code.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from './emulator/server.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(root, 'data');

async function demo(): Promise<number> {
  const config = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8')) as {
    parameters?: { url?: string };
  };
  const url = new URL(config.parameters?.url ?? 'http://127.0.0.1:8765');
  const emulator = await startEmulator({
    port: Number(url.port),
    seedFile: join(dataDir, 'seed', 'seed.json'),
    quiet: true,
  });
  process.stdout.write(`Storage API emulator on ${emulator.url}; running the job on ${dataDir}\n`);
  try {
    return await runJob(emulator.url);
  } finally {
    await emulator.close();
  }
}

function runJob(emulatorUrl: string): Promise<number> {
  const child = spawn(process.execPath, [join(root, 'dist', 'main.js'), '--data', dataDir], {
    stdio: 'inherit',
    env: { ...process.env, AWS_ENDPOINT_URL_S3: emulatorUrl, STORAGE_EMULATOR_HOST: emulatorUrl },
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 2));
  });
}

demo().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `The demo failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 2;
  },
);
