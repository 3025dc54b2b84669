import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSlicedTable } from '../helpers/output.js';

const root = join(import.meta.dirname, '..', '..');

/** `npm start` is `npm run build` then `node dist/demo.js`; the suite has built already. */
describe('npm start', () => {
  it('runs the demo against the emulator, prints the summary and leaves data/out', async () => {
    const child = spawn(process.execPath, [join(root, 'dist', 'demo.js')], {
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
    const orders = await readSlicedTable(join(root, 'data'), 'orders.csv');
    expect(orders.rows).toHaveLength(120_000);
    expect(orders.slices.length).toBeGreaterThanOrEqual(3);
  });
});
