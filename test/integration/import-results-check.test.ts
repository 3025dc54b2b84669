/**
 * An import job that succeeded but whose results contradict the load (docs/sync-record.md): the
 * run fails, and its intent is dropped, so the next run exports the window again instead of
 * settling the intent as a success and skipping the table as unchanged. A proxy in front of the
 * destination's Storage API takes one row off every successful import job's `totalRowsCount`.
 */
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { startRewritingProxy } from '../helpers/rewriting-proxy.js';
import { makeDataDir } from '../helpers/run-cli.js';
import {
  T0_MS,
  exportStarts,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());
const JOB_PATH = /\/v2\/storage\/jobs\/\d+/;

/** Rewrites the answer to a GET of a successful import job: one row fewer than it loaded. */
function oneRowShort(body: string): string {
  try {
    const job = JSON.parse(body) as {
      operationName?: string;
      status?: string;
      results?: { totalRowsCount?: unknown };
    };
    const total = job.results?.totalRowsCount;
    if (job.operationName !== 'tableImport' || job.status !== 'success') return body;
    if (typeof total !== 'number' || !job.results) return body;
    job.results.totalRowsCount = total - 1;
    return JSON.stringify(job);
  } catch {
    return body;
  }
}

describe('an import job whose results contradict the load', () => {
  it('fails the run, and the next run exports the window again instead of committing that job', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS);
    const proxy = await startRewritingProxy(url, {
      rewrite: (req, body) =>
        req.method === 'GET' && JOB_PATH.test(req.url ?? '') ? oneRowShort(body) : body,
    });
    try {
      const config = standaloneConfig(url, [
        { name: 'events', destination: 'events_counted', changedSince: 'lastRun' },
      ]) as { parameters: { destination: { url: string } } };
      config.parameters.destination.url = proxy.url;
      const dataDir = await makeDataDir(config);
      const first = await runJob(url, dataDir);
      expect(first.code).toBe(2);
      expect(first.stderr).toMatch(/reports 1 rows after a full load of 2 exported rows/);
      control.setClock(T0_MS + 120_000);
      control.resetStats();
      const second = await runJob(url, dataDir);
      expect(second.stdout).not.toMatch(/succeeded: its window is now the watermark/);
      expect(exportStarts(control)).toEqual({ 'in.c-sales.events': 1 });
      // The proxy still takes a row off, so the second run fails the same way.
      expect(second.code).toBe(2);
    } finally {
      await proxy.close();
    }
  });
});
