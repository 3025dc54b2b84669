import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FlipBytes, corruptSpan } from '../../../src/objects/fault-streams.js';
import { downloadPlan } from '../../../src/objects/object-store.js';
import { burstBytesFor } from '../../../src/objects/throttle.js';

describe('downloadPlan', () => {
  it.each([
    [undefined, { sendBytes: 1000, declaredBytes: 1000, closeAfter: false }],
    [
      { kind: 'truncateGzip', path: 'x' },
      { sendBytes: 992, declaredBytes: 992 },
    ],
    [
      { kind: 'corruptGzip', path: 'x' },
      { sendBytes: 1000, flip: { start: 498, end: 502 } },
    ],
    [
      { kind: 'contentLengthMismatch', path: 'x' },
      { sendBytes: 1000, declaredBytes: 2024, closeAfter: true },
    ],
    [
      { kind: 'reset', afterBytes: 10, path: 'x' },
      { sendBytes: 10, declaredBytes: 1000, resetAfterBytes: 10 },
    ],
    [
      { kind: 'reset', afterBytes: 5000, path: 'x' },
      { sendBytes: 1000, resetAfterBytes: 1000 },
    ],
  ] as const)('%o', (fault, expected) => {
    expect(downloadPlan(1000, fault)).toMatchObject(expected);
  });

  it('never plans negative sizes for tiny objects', () => {
    expect(downloadPlan(3, { kind: 'truncateGzip', path: 'x' }).sendBytes).toBe(0);
    expect(corruptSpan(1)).toEqual({ start: 0, end: 1 });
  });
});

describe('FlipBytes', () => {
  it('inverts exactly the span across chunk boundaries', async () => {
    const input = Buffer.alloc(10, 0);
    const chunks = [input.subarray(0, 3), input.subarray(3, 5), input.subarray(5)];
    const out: Buffer[] = [];
    for await (const chunk of Readable.from(chunks).pipe(new FlipBytes(2, 6))) {
      out.push(chunk as Buffer);
    }
    expect([...Buffer.concat(out)]).toEqual([0, 0, 255, 255, 255, 255, 0, 0, 0, 0]);
    expect(input.every((b) => b === 0)).toBe(true);
  });
});

describe('burstBytesFor', () => {
  it.each([
    [1000, 1024],
    [4 * 1024 * 1024, 64 * 1024],
    [200_000, 10_000],
  ])('%i B/s → %i', (rate, burst) => {
    expect(burstBytesFor(rate)).toBe(burst);
  });
});
