import { describe, expect, it } from 'vitest';
import { threadPoolSize, tuningFrom } from '../../src/env-knobs.js';

describe('threadPoolSize', () => {
  it.each([
    [undefined, 4],
    ['8', 8],
    ['0', 1],
    ['many', 1],
    ['4096', 1024],
  ])('reads UV_THREADPOOL_SIZE=%s as libuv does: %i threads', (value, threads) => {
    expect(threadPoolSize(value)).toBe(threads);
  });

  it('sizes the lent inflate output buffers of a run', () => {
    expect(tuningFrom({}, false).inflateThreads).toBe(4);
    expect(tuningFrom({ UV_THREADPOOL_SIZE: '16' }, true).inflateThreads).toBe(16);
  });
});
