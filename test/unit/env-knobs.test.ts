import { describe, expect, it } from 'vitest';
import { threadPoolSize, tuningFrom } from '../../src/env-knobs.js';

describe('threadPoolSize', () => {
  it.each([
    [undefined, 4],
    ['8', 8],
    ['0', 1],
    ['many', 1],
    ['4096', 1024],
    // Each row below was checked against Node 20's libuv by counting /proc/self/task.
    [' 7', 7],
    ['+3', 3],
    ['5x', 5],
    ['1e3', 1],
    ['0x10', 1],
    ['-1', 1024],
    ['2147483648', 1024],
    ['4294967295', 1024],
    ['4294967297', 1],
    ['-4294967295', 1],
    ['99999999999999999999', 1024],
  ])('reads UV_THREADPOOL_SIZE=%j as libuv does: %i threads', (value, threads) => {
    expect(threadPoolSize(value)).toBe(threads);
  });

  it('sizes the lent inflate output buffers of a run', () => {
    expect(tuningFrom({}, false).inflateThreads).toBe(4);
    expect(tuningFrom({ UV_THREADPOOL_SIZE: '16' }, true).inflateThreads).toBe(16);
  });
});
