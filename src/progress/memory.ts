import { readFileSync } from 'node:fs';

/**
 * Peak resident memory of this process in bytes: `VmHWM` of /proc/self/status on Linux.
 * `getrusage` (`maxRssKib`, the composition root's `process.resourceUsage().maxRSS`) is only the
 * fallback: on Linux it keeps the parent's resident size from before `exec`, so a child spawned by
 * a big process reports that.
 */
export function measurePeakRssBytes(maxRssKib: () => number): number {
  try {
    const kib = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kib !== undefined) return Number(kib) * 1024;
  } catch {
    // Not Linux: fall through.
  }
  return maxRssKib() * 1024;
}
