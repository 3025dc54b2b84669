import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { CsvRecordCounter } from '../../../src/transfer/csv-records.js';
import {
  BadSliceError,
  createOutputBuffers,
  GzipVerifier,
  SliceBombError,
} from '../../../src/transfer/verify-gzip.js';

async function passThrough(
  data: Buffer,
  chunkSize = 7,
  verifier = new GzipVerifier(),
): Promise<{ out: Buffer; verifier: GzipVerifier }> {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunkSize)
    chunks.push(data.subarray(at, at + chunkSize));
  const received: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    verifier,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        received.push(chunk);
        cb();
      },
    }),
  );
  return { out: Buffer.concat(received), verifier };
}

describe('GzipVerifier', () => {
  const csv = '"1","a"\n"2","multi\nline"\n"3","c ""q"""\n';
  const gz = gzipSync(csv);

  it('passes bytes unchanged and counts records quote-aware', async () => {
    const { out, verifier } = await passThrough(gz);
    expect(out.equals(gz)).toBe(true);
    expect(verifier.tally).toEqual({
      rows: 3,
      compressedBytes: gz.length,
      uncompressedBytes: Buffer.byteLength(csv),
    });
  });

  it.each([
    ['truncated', gz.subarray(0, gz.length - 6)],
    ['corrupt', Buffer.from(gz.map((b, i) => (i === Math.floor(gz.length / 2) ? b ^ 0xff : b)))],
    ['not gzip', Buffer.from(csv)],
    ['empty', Buffer.alloc(0)],
  ])('rejects a %s slice and never emits its last chunk', async (_name, bad) => {
    const verifier = new GzipVerifier();
    const received: Buffer[] = [];
    const done = pipeline(
      Readable.from([bad]),
      verifier,
      new Writable({
        write(chunk: Buffer, _e, cb) {
          received.push(chunk);
          cb();
        },
      }),
    );
    await expect(done).rejects.toBeInstanceOf(BadSliceError);
    expect(Buffer.concat(received).length).toBeLessThan(Math.max(bad.length, 1));
  });

  describe('a slice in small network pieces (TLS records), gathered for the gunzip', () => {
    const rows = 40_000;
    // Hex of a hash per row, so that the gzip is larger than a few gathering rounds.
    const bigCsv = Array.from(
      { length: rows },
      (_, i) => `"${i}","${createHash('sha256').update(String(i)).digest('hex')}, ""q"""\n`,
    ).join('');
    const bigGz = gzipSync(bigCsv);

    it.each([1_000, 16_384, 65_536, 100_000])(
      'passes %i-byte pieces through unchanged and counts every record',
      async (pieceBytes) => {
        expect(bigGz.length).toBeGreaterThan(4 * 65_536);
        const { out, verifier } = await passThrough(bigGz, pieceBytes);
        expect(out.equals(bigGz)).toBe(true);
        expect(verifier.tally).toEqual({
          rows,
          compressedBytes: bigGz.length,
          uncompressedBytes: Buffer.byteLength(bigCsv),
        });
      },
    );

    it('gathers 16 KiB pieces into one reused buffer, not a fresh one per gathering', async () => {
      const concat = vi.spyOn(Buffer, 'concat');
      const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
      try {
        const pieces: Buffer[] = [];
        for (let at = 0; at < bigGz.length; at += 16_384)
          pieces.push(bigGz.subarray(at, at + 16_384));
        const verifier = new GzipVerifier();
        let receivedBytes = 0;
        await pipeline(
          Readable.from(pieces),
          verifier,
          new Writable({
            write(chunk: Buffer, _e, cb) {
              receivedBytes += chunk.length;
              cb();
            },
          }),
        );
        expect(receivedBytes).toBe(bigGz.length);
        expect(verifier.tally.rows).toBe(rows);
        // More than four gatherings; at most one gather buffer made (one may be left from an
        // earlier test); only the last gathering is concatenated.
        expect(bigGz.length).toBeGreaterThan(4 * 65_536);
        expect(concat.mock.calls.length).toBeLessThanOrEqual(1);
        const made = allocUnsafe.mock.calls.filter(([size]) => size === 2 * 65_536);
        expect(made.length).toBeLessThanOrEqual(1);
      } finally {
        vi.restoreAllMocks();
      }
    });

    it('verifies more slices at once than there are output buffers to lend', async () => {
      const twoBuffers = createOutputBuffers(2);
      const slices = await Promise.all(
        Array.from({ length: 6 }, () =>
          passThrough(bigGz, 16_384, new GzipVerifier(undefined, undefined, twoBuffers)),
        ),
      );
      for (const { out, verifier } of slices) {
        expect(out.equals(bigGz)).toBe(true);
        expect(verifier.tally.rows).toBe(rows);
      }
    });

    it('refuses a bomb and goes on lending to the next slices', async () => {
      const strict = new GzipVerifier(undefined, { maxRatio: 1, floorBytes: 1024 });
      await expect(passThrough(bigGz, 16_384, strict)).rejects.toBeInstanceOf(SliceBombError);
      const next = await Promise.all([passThrough(bigGz, 65_536), passThrough(bigGz, 16_384)]);
      expect(next.map(({ verifier }) => verifier.tally.rows)).toEqual([rows, rows]);
    });

    it('still rejects a slice corrupt in the middle', async () => {
      const corrupt = Buffer.from(bigGz);
      const middle = Math.floor(corrupt.length / 2);
      corrupt[middle] = (corrupt[middle] ?? 0) ^ 0xff;
      await expect(passThrough(corrupt, 16_384)).rejects.toBeInstanceOf(BadSliceError);
    });
  });

  it('accepts an empty table slice (gzip of nothing)', async () => {
    const { verifier } = await passThrough(gzipSync(''));
    expect(verifier.tally.rows).toBe(0);
  });
});

describe('CsvRecordCounter', () => {
  it.each([
    ['', 0],
    ['a\n', 1],
    ['a\nb', 2],
    ['"x\n\ny"\n"z"\n', 2],
  ])('counts %j as %i records', (text, rows) => {
    const counter = new CsvRecordCounter();
    for (const ch of text) counter.feed(Buffer.from(ch));
    expect(counter.records).toBe(rows);
  });
});
