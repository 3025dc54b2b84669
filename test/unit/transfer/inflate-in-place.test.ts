import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InPlaceGunzip, OutputBufferLender } from '../../../src/transfer/inflate-in-place.js';

const BUFFER_BYTES = 64 * 1024;

/** About 1 MiB of CSV-like text that compresses, so that many output chunks come out. */
function csvText(): Buffer {
  const lines: string[] = [];
  for (let row = 0; row < 20_000; row++) lines.push(`${row},${randomBytes(12).toString('hex')}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** Writes `gz` in pieces of `pieceBytes`, one write at a time, and collects what `onChunk` saw. */
async function inflate(
  gz: Buffer,
  pieceBytes: number,
  lender = new OutputBufferLender(BUFFER_BYTES, 2),
) {
  const copies: Buffer[] = [];
  const buffersSeen = new Set<ArrayBufferLike>();
  const gunzip = new InPlaceGunzip(lender, (chunk) => {
    buffersSeen.add(chunk.buffer);
    copies.push(Buffer.from(chunk));
  });
  for (let at = 0; at < gz.length; at += pieceBytes) {
    await gunzip.write(gz.subarray(at, at + pieceBytes));
  }
  await gunzip.end();
  if (gunzip.error) throw gunzip.error;
  return { out: Buffer.concat(copies), buffersSeen };
}

describe('InPlaceGunzip', () => {
  const csv = csvText();
  const gz = gzipSync(csv);

  it.each([61, 1000, 65_536, gz.length])(
    'hands every inflated byte to onChunk, in order (input pieces of %i bytes)',
    async (pieceBytes) => {
      const { out } = await inflate(gz, pieceBytes);
      expect(out.equals(csv)).toBe(true);
    },
  );

  it('inflates every chunk into a lent buffer (no fresh buffer per chunk)', async () => {
    const lender = new OutputBufferLender(BUFFER_BYTES, 1);
    const lent = vi.spyOn(lender, 'borrow');
    const { buffersSeen } = await inflate(gz, 65_536, lender);
    expect(csv.length).toBeGreaterThan(8 * BUFFER_BYTES);
    expect(buffersSeen.size).toBe(1);
    const [buffer] = lent.mock.results.map((result) => result.value as Buffer);
    expect(buffer?.buffer).toBe([...buffersSeen][0]);
  });

  it('shares the lent buffers between gunzips, waiting in turn when all are out', async () => {
    const lender = new OutputBufferLender(BUFFER_BYTES, 1);
    const [first, second] = await Promise.all([
      inflate(gz, 4096, lender),
      inflate(gz, 4096, lender),
    ]);
    expect(first.out.equals(csv)).toBe(true);
    expect(second.out.equals(csv)).toBe(true);
    expect(new Set([...first.buffersSeen, ...second.buffersSeen]).size).toBe(1);
  });

  describe('what Node allocates per output chunk', () => {
    afterEach(() => vi.restoreAllMocks());

    it('allocates no output-sized buffer besides the lent ones', async () => {
      const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
      const { out } = await inflate(gz, gz.length);
      expect(out.equals(csv)).toBe(true);
      const sizes = allocUnsafe.mock.calls.map(([size]) => size);
      // Node asked for a replacement after every full output buffer (more than 8 here)...
      expect(sizes.filter((size) => size === 1).length).toBeGreaterThan(8);
      // ...but only the lender made buffers of the output's size: one, as writes go one at a time.
      expect(sizes.filter((size) => size === BUFFER_BYTES)).toHaveLength(1);
    });
  });

  it('fails on a truncated stream, as any gunzip', async () => {
    await expect(inflate(gz.subarray(0, gz.length - 6), 4096)).rejects.toThrow(
      /unexpected end of file/,
    );
  });

  it('writes off the buffer of a write whose gunzip was destroyed, and lends a new one', async () => {
    const lender = new OutputBufferLender(BUFFER_BYTES, 1);
    const writeOff = vi.spyOn(lender, 'writeOff');
    const gunzip = new InPlaceGunzip(lender, () => gunzip.destroy(new Error('enough')));
    await gunzip.write(gz);
    expect(gunzip.error?.message).toBe('enough');
    expect(writeOff).toHaveBeenCalledTimes(1);
    // A write after the failure returns at once; the lender still lends to others.
    await gunzip.write(gz);
    const { out } = await inflate(gz, 65_536, lender);
    expect(out.equals(csv)).toBe(true);
  });
});

describe('OutputBufferLender', () => {
  it('makes at most maxBuffers, then lends them in the order they were asked for', async () => {
    const lender = new OutputBufferLender(16, 2);
    const a = lender.borrow();
    const b = lender.borrow();
    expect(Buffer.isBuffer(a) && Buffer.isBuffer(b)).toBe(true);
    const order: string[] = [];
    const inTurn = (name: string) =>
      Promise.resolve(lender.borrow()).then((buffer) => {
        order.push(name);
        return buffer;
      });
    const c = inTurn('c');
    const d = inTurn('d');
    lender.giveBack(a as Buffer);
    lender.writeOff();
    expect(await c).toBe(a);
    const fresh = await d;
    expect(fresh).not.toBe(b);
    expect(fresh).toHaveLength(16);
    expect(order).toEqual(['c', 'd']);
  });
});
