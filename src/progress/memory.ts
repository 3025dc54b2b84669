import { readFileSync } from 'node:fs';

/**
 * Peak resident memory of this process in bytes: `VmHWM` of /proc/self/status on Linux.
 * `getrusage` (`process.resourceUsage().maxRSS`) is only the fallback: on Linux it keeps the
 * parent's resident size from before `exec`, so a child spawned by a big process reports that.
 */
export function peakRssBytes(): number {
  try {
    const kib = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kib !== undefined) return Number(kib) * 1024;
  } catch {
    // Not Linux: fall through.
  }
  return process.resourceUsage().maxRSS * 1024;
}
