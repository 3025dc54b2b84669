/**
 * The test process as the data-folder lock records and judges its holder: real pid, host and
 * start, and a real existence check, as `thisProcess` in src/main.ts describes the job's process.
 */
import { hostname } from 'node:os';
import { errorCode } from '../../src/fs-errors.js';
import type { ThisProcess } from '../../src/lock/data-dir-lock.js';
import { readProcessTable } from '../../src/lock/process-table.js';

export function thisTestProcess(): ThisProcess {
  return {
    pid: process.pid,
    hostname: hostname(),
    startedAtMs: Date.now() - process.uptime() * 1000,
    isAlive: (pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch (error) {
        return errorCode(error) === 'EPERM';
      }
    },
    processTable: readProcessTable(),
  };
}
