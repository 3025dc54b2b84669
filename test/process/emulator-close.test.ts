/**
 * The emulator package closed while a large generated table is still being written: the write is
 * interrupted, `close()` returns, and the process can exit. Before, DuckDB was closed under the
 * running query and the process never exited (seen as a benchmark that a signal could not stop).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const EMULATOR = fileURLToPath(new URL('../../emulator/dist/index.js', import.meta.url));
/** Generous: an interrupted generate ends within about 2 s here; a hang never does. */
const EXIT_DEADLINE_MS = 60_000;

const SCRIPT = `
import { startEmulator } from ${JSON.stringify(EMULATOR)};
const emulator = await startEmulator({
  quiet: true,
  seed: { projects: [{ id: 1, name: 'p', fileStorageProvider: 'aws', buckets: [{ id: 'in.c-b', tables: [] }], tokens: [] }] },
});
const columns = Array.from({ length: 31 }, (_, i) => (i === 0 ? 'id' : 'c' + i));
const generating = emulator.control
  .createTable(1, 'in.c-b', { name: 't', columns, primaryKey: ['id'], generate: { rows: 5000000 } })
  .then(() => 'generated', (error) => 'failed: ' + error.message);
await new Promise((resolve) => setTimeout(resolve, 500));
await emulator.close();
console.log('closed');
console.log(await generating);
`;

describe('the emulator closed during a generate', () => {
  it('interrupts the write, closes, and lets the process exit', async () => {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve) => {
        const child = execFile(
          process.execPath,
          ['--input-type=module', '-e', SCRIPT],
          { timeout: EXIT_DEADLINE_MS },
          (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
        );
      },
    );
    expect(result.code, result.stderr).toBe(0);
    const [closed, generated] = result.stdout.trim().split('\n');
    expect(closed).toBe('closed');
    expect(generated).toMatch(/^failed: .*Interrupted/);
  });
});
