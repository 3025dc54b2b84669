import type { TableProgress } from '../transfer/progress.js';

/**
 * One progress line of a table; the format is stable (tests and log parsers rely on it):
 * `progress <table>: <phase>, slices <done>/<total>, <MB> MB, <MB/s> MB/s, <s> s`
 * where MB are compressed megabytes (10^6 bytes) moved so far, the rate is over the table's
 * elapsed time, and every number has one decimal.
 */
export function formatProgressLine(p: TableProgress, nowMs: number): string {
  const seconds = p.elapsedSeconds(nowMs);
  const megabytes = p.bytes / 1e6;
  const rate = seconds > 0 ? megabytes / seconds : 0;
  return `progress ${p.table}: ${p.phase}, slices ${p.slicesDone}/${p.slicesTotal}, ${megabytes.toFixed(1)} MB, ${rate.toFixed(1)} MB/s, ${seconds.toFixed(1)} s`;
}
