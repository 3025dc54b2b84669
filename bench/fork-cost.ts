/**
 * `node .build/bench/fork-cost.js [GB...]`: how long spawning `/bin/true` takes from a process
 * that holds that many GB of touched buffers (default 0, 1 and 4), three times each. It backs
 * docs/performance.md, "Starting the measured process": fork copies the caller's page tables.
 */
import { spawn } from 'node:child_process';

const CHUNK_BYTES = 128 * 1024 * 1024;

async function spawnMs(): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('/bin/true');
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return performance.now() - started;
}

const held: Buffer[] = [];
const sizesGB = process.argv.slice(2).map(Number);
for (const gb of sizesGB.length > 0 ? sizesGB : [0, 1, 4]) {
  while (held.length * CHUNK_BYTES < gb * 1024 ** 3) held.push(Buffer.alloc(CHUNK_BYTES, 1));
  const times: string[] = [];
  for (let i = 0; i < 3; i++) times.push((await spawnMs()).toFixed(1));
  process.stdout.write(`${gb} GB held: spawn ${times.join(', ')} ms\n`);
}
