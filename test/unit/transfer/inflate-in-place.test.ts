import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createInPlaceGunzip } from '../../../src/transfer/inflate-in-place.js';

const CHUNK_BYTES = 64 * 1024;

/** About 1 MiB of CSV-like text that compresses, so that many output chunks come out. */
function csvText(): Buffer {
  const lines: string[] = [];
  for (let row = 0; row < 20_000; row++) lines.push(`${row},${randomBytes(12).toString('hex')}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** Writes `gz` in pieces of `pieceBytes` and collects copies of what `onChunk` saw. */
async function inflate(gz: Buffer, pieceBytes: number) {
  const copies: Buffer[] = [];
  const buffersSeen = new Set<ArrayBufferLike>();
  const gunzip = createInPlaceGunzip(CHUNK_BYTES, (chunk) => {
    buffersSeen.add(chunk.buffer);
    copies.push(Buffer.from(chunk));
  });
  const ended = new Promise<void>((resolve, reject) => {
    gunzip.once('end', resolve);
    gunzip.once('error', reject);
  });
  for (let at = 0; at < gz.length; at += pieceBytes) gunzip.write(gz.subarray(at, at + pieceBytes));
  gunzip.end();
  await ended;
  return { out: Buffer.concat(copies), buffersSeen };
}

describe('createInPlaceGunzip', () => {
  const csv = csvText();
  const gz = gzipSync(csv);

  it.each([61, 1000, 65_536, gz.length])(
    'hands every inflated byte to onChunk, in order (input pieces of %i bytes)',
    async (pieceBytes) => {
      const { out } = await inflate(gz, pieceBytes);
      expect(out.equals(csv)).toBe(true);
    },
  );

  it('inflates every chunk into one and the same buffer (no fresh buffer per chunk)', async () => {
    const { buffersSeen } = await inflate(gz, 65_536);
    expect(csv.length).toBeGreaterThan(8 * CHUNK_BYTES);
    expect(buffersSeen.size).toBe(1);
  });

  describe('what Node allocates per output chunk', () => {
    afterEach(() => vi.restoreAllMocks());

    it('allocates no output-sized buffer to replace the kept one', async () => {
      const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
      const { out } = await inflate(gz, 65_536);
      expect(out.equals(csv)).toBe(true);
      const sizes = allocUnsafe.mock.calls.map(([size]) => size);
      // Node asked for a replacement after every full output buffer (more than 8 here)...
      expect(sizes.filter((size) => size === 1).length).toBeGreaterThan(8);
      // ...but only the stream's first output buffer, at its construction, has the output's size.
      expect(sizes.filter((size) => size === CHUNK_BYTES)).toHaveLength(1);
    });
  });

  it('fails on a truncated stream, as any gunzip', async () => {
    await expect(inflate(gz.subarray(0, gz.length - 6), 4096)).rejects.toThrow(
      /unexpected end of file/,
    );
  });
});
