import { readFileSync, readlinkSync } from 'node:fs';

/**
 * This machine's boot and this process's pid namespace (Linux), which together name the table its
 * pids live in (`ThisProcess.processTable`, docs/locking.md); undefined where /proc does not tell.
 */
export function readProcessTable(): string | undefined {
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `${bootId} ${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return undefined;
  }
}
