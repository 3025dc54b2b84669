/**
 * Closing an emulator whose jobs wait out a job duration (docs/storage-api.md, Jobs): the waits
 * end at once, so a close never waits for the duration.
 */
import { dirname } from 'node:path';
import { expect, it } from 'vitest';
import { DEMO_SEED_FILE, startEmulator } from '../../src/index.js';

const SOURCE_TOKEN = '101-1001-5ea1e5f0c0ffee00000000000000000000000001';
/** Far longer than the test's own bound: a close that waited for it would fail the test. */
const JOB_DURATION_MS = 10 * 60_000;

it('closes at once while a job waits out its duration', { timeout: 60_000 }, async () => {
  const emulator = await startEmulator({
    seedFile: DEMO_SEED_FILE,
    seedBaseDir: dirname(DEMO_SEED_FILE),
    jobDurationMs: JOB_DURATION_MS,
    quiet: true,
  });
  let closed = false;
  try {
    const answer = await fetch(
      `${emulator.url}/v2/storage/tables/in.c-sales.returns/export-async`,
      { method: 'POST', headers: { 'X-StorageApi-Token': SOURCE_TOKEN } },
    );
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as { id: number };
    const poll = async () =>
      (
        (await (
          await fetch(`${emulator.url}/v2/storage/jobs/${id}`, {
            headers: { 'X-StorageApi-Token': SOURCE_TOKEN },
          })
        ).json()) as { status: string }
      ).status;
    expect(await poll()).toBe('processing');
    expect(await poll()).toBe('processing');
    await emulator.close();
    closed = true;
  } finally {
    if (!closed) await emulator.close();
  }
});
