/**
 * `node <job flags> .build/bench/verify-files.js <gzip file>...`: the job's slice verification
 * alone (full gunzip, CRC check, CSV record count), two files at a time, in a process of its own
 * started with the job's node flags, so that its CPU compares with the job's (the benchmark
 * process also hosts the emulator, whose large heap makes every collection dearer). Prints
 * `{"rows":N}`.
 */
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GzipVerifier } from '../src/transfer/verify-gzip.js';

const queue = process.argv.slice(2);
let rows = 0;

async function verifyNext(): Promise<void> {
  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    const verifier = new GzipVerifier();
    const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
    await pipeline(createReadStream(path), verifier, discard);
    rows += verifier.tally.rows;
  }
}

await Promise.all([verifyNext(), verifyNext()]);
process.stdout.write(`${JSON.stringify({ rows })}\n`);
