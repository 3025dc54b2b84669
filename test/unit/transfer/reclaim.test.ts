import { describe, expect, it } from 'vitest';
import { RECLAIM_EVERY_BYTES, noteTransferredBytes } from '../../../src/transfer/reclaim.js';

describe('noteTransferredBytes', () => {
  it('runs the young-generation collection every few MB without disturbing live buffers', () => {
    const live = Buffer.alloc(1024, 7);
    for (let i = 0; i < 10; i++) noteTransferredBytes(RECLAIM_EVERY_BYTES / 2);
    expect(live.every((byte) => byte === 7)).toBe(true);
    expect(RECLAIM_EVERY_BYTES).toBe(4 * 1024 * 1024);
  });
});
