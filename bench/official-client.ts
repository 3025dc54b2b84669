/**
 * Benchmark case (c), the official Keboola clients' approach (docs/storage-api-notes.md, Reading an exported file): the
 * slices of an exported file are downloaded one after another, each gunzipped and appended to one
 * local CSV. Same signed requests as the job (`openSliceSource`). Run as a child process so its
 * peak RSS is measured on its own:
 *
 *   node .build/bench/official-client.js <file-detail.json> <out.csv>
 *
 * Prints one JSON line: `{ slices, compressedBytes, csvBytes }`.
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { openSliceSource } from '../src/objects/slice-source.js';
import { SecretMasker } from '../src/secrets.js';
import type { FileDetail } from '../src/storage/types.js';

class Counter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

async function main(): Promise<void> {
  const [detailPath, outPath] = process.argv.slice(2);
  if (!detailPath || !outPath) throw new Error('usage: official-client <file.json> <out.csv>');
  const file = JSON.parse(await readFile(detailPath, 'utf8')) as FileDetail;
  const endpoint = process.env.AWS_ENDPOINT_URL_S3;
  const source = await openSliceSource(file, {
    refetchFile: () => Promise.reject(new Error('no refetch in the benchmark')),
    endpoints: endpoint ? { s3: endpoint } : {},
    masker: new SecretMasker(),
  });
  const out = createWriteStream(outPath);
  let compressedBytes = 0;
  let csvBytes = 0;
  for (const slice of source.slices) {
    const opened = await source.open(slice);
    const compressed = new Counter();
    const plain = new Counter();
    // One slice after another, appended to the same CSV (the stream stays open between slices).
    await pipeline(opened.body, compressed, createGunzip(), plain, out, { end: false });
    compressedBytes += compressed.bytes;
    csvBytes += plain.bytes;
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  process.stdout.write(
    `${JSON.stringify({ slices: source.slices.length, compressedBytes, csvBytes })}\n`,
  );
}

await main();
