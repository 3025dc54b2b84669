import { describe, expect, it } from 'vitest';
import { leftFolders } from '../../bench/on-stop.js';

describe("the benchmark's folders", () => {
  it('lists those whose benchmark process is gone, and keeps running ones and other names', () => {
    const running = new Set([4242]);
    const names = [
      'kbc-bench-4242-a1B2c3', // running
      'kbc-bench-977-Zz9yY8', // killed
      'kbc-bench-977-second', // killed, a second folder of the same process
      'kbc-bench-xYz123', // before folders carried a process id: kept
      'kbc-emulator-977-abc', // not a benchmark's
      'kbc-bench-', // no id
    ];
    expect(leftFolders(names, (pid) => running.has(pid))).toEqual([
      'kbc-bench-977-Zz9yY8',
      'kbc-bench-977-second',
    ]);
  });
});
