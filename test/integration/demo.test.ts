import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSlicedTable } from '../helpers/output.js';

const root = join(import.meta.dirname, '..', '..');

/**
 * `npm start` is `npm run build` then `node scripts/demo.mjs`; the suite has built already. The
 * emulator listens on a free port, and `--out` keeps the output out of data/out.
 */
describe('npm start', () => {
  it('runs the demo against the emulator, prints the summary and copies out/ to --out', async () => {
    const outDir = join(await mkdtemp(join(tmpdir(), 'demo-test-')), 'out');
    const child = spawn(process.execPath, [join(root, 'scripts', 'demo.mjs'), '--out', outDir], {
      cwd: root,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(timer);
    expect(code, output).toBe(0);
    for (const table of ['orders', 'customers', 'products', 'returns']) {
      expect(output).toContain(`summary in.c-sales.${table}: success`);
    }
    expect(output).not.toMatch(/127\.0\.0\.1:8765\b/);
    const orders = await readSlicedTable(join(outDir, '..'), 'orders.csv');
    expect(orders.rows).toHaveLength(120_000);
    expect(orders.slices.length).toBeGreaterThanOrEqual(3);
    await rm(join(outDir, '..'), { recursive: true, force: true });
  });
});
