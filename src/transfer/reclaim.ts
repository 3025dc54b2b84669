import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Returns transfer buffers to the system promptly.
 *
 * Node allocates a fresh buffer for every chunk it hands over: each socket read (up to 64 KiB of
 * gzip) and each gunzip output chunk (64 KiB of CSV). Their memory lives outside the JavaScript
 * heap and is freed only when V8 collects the small objects that own them; V8 starts a collection
 * for outside memory only after it has grown by about 64 MB, and the job allocates too few
 * JavaScript objects for the young generation to fill sooner. Left alone, up to ~64 MB of dead
 * buffers sit in the process at any time, about half its peak RSS (docs/performance.md, Memory).
 *
 * A young-generation collection (scavenge) frees them: the buffers are young when they die. It
 * touches only live young objects (the few chunks in flight), well under a millisecond. So the
 * verifiers report the bytes they pass, and every {@link RECLAIM_EVERY_BYTES} one scavenge runs.
 */
export const RECLAIM_EVERY_BYTES = 4 * 1024 * 1024;

type Collect = (options: { type: 'minor' | 'major' }) => void;

/** V8's `gc`, reachable without `--expose-gc` on the command line; undefined where refused. */
function loadCollector(): Collect | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as Collect) : undefined;
  } catch {
    return undefined;
  }
}

const collect = loadCollector();
let sinceLastBytes = 0;

/** Notes `bytes` of buffers handed over; runs a scavenge once enough have passed. */
export function noteTransferredBytes(bytes: number): void {
  if (collect === undefined) return;
  sinceLastBytes += bytes;
  if (sinceLastBytes < RECLAIM_EVERY_BYTES) return;
  sinceLastBytes = 0;
  collect({ type: 'minor' });
}
