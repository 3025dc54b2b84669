/**
 * `npm start` (after `npm run build`): a complete offline demo, not part of the shipped job. Starts the Storage API
 * emulator (the `keboola-storage-emulator` workspace package) with its demo seed on a free port,
 * runs the built job (as a child process, exactly as a user would) on a temporary copy of ./data
 * whose `parameters.url` points at that port, and prints the job's summary. Exits with the job's
 * exit code.
 *
 * Where the output goes: `--out DIR` copies the run's out/ folder to DIR. Without it, a run by
 * hand (stdout is a terminal) copies it to data/out; any other run leaves nothing behind.
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { DEMO_SEED_FILE, startEmulator } from 'keboola-storage-emulator';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(root, 'data');

/**
 * @param {string | undefined} outDir
 * @returns {Promise<number>} the job's exit code
 */
async function demo(outDir) {
  /** @type {{ parameters?: Record<string, unknown> }} */
  const config = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'));
  const emulator = await startEmulator({ port: 0, seedFile: DEMO_SEED_FILE, quiet: true });
  const runDir = await mkdtemp(join(tmpdir(), 'kbc-table-sync-demo-'));
  try {
    for (const folder of ['in/tables', 'in/files', 'out/tables', 'out/files']) {
      await mkdir(join(runDir, folder), { recursive: true });
    }
    const runConfig = { ...config, parameters: { ...config.parameters, url: emulator.url } };
    await writeFile(join(runDir, 'config.json'), JSON.stringify(runConfig, null, 2));
    await writeFile(join(runDir, 'in', 'state.json'), '{}\n');
    process.stdout.write(
      `Storage API emulator on ${emulator.url}; running the job on a copy of ${dataDir}\n`,
    );
    const code = await runJob(emulator.url, runDir);
    if (outDir !== undefined) {
      await rm(outDir, { recursive: true, force: true });
      await cp(join(runDir, 'out'), outDir, { recursive: true });
      process.stdout.write(`The job's output is in ${outDir}\n`);
    }
    return code;
  } finally {
    await emulator.close();
    await rm(runDir, { recursive: true, force: true });
  }
}

/**
 * @param {string} emulatorUrl
 * @param {string} runDir
 * @returns {Promise<number>}
 */
function runJob(emulatorUrl, runDir) {
  const child = spawn(process.execPath, [join(root, 'dist', 'main.js'), '--data', runDir], {
    stdio: 'inherit',
    env: { ...process.env, AWS_ENDPOINT_URL_S3: emulatorUrl, STORAGE_EMULATOR_HOST: emulatorUrl },
  });
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolvePromise(code ?? 2));
  });
}

/** @returns {string | undefined} */
function outDirFromArgs() {
  const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
  if (values.out !== undefined) return resolve(values.out);
  return process.stdout.isTTY ? join(dataDir, 'out') : undefined;
}

Promise.resolve()
  .then(() => demo(outDirFromArgs()))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(
        `The demo failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = 2;
    },
  );
