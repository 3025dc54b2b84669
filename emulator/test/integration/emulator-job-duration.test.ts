/**
 * The job duration (docs/storage-api.md, Jobs): closing an emulator whose jobs wait it out ends
 * the waits at once, and a start with a bad one fails cleanly.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

it('closes at once while a holdWrites fault holds a job, and removes its work folder', async () => {
  const scratch = await mkdtemp(join(tmpdir(), 'kbc-emulator-held-'));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = scratch;
  const master = `1-10-${'a'.repeat(40)}`;
  try {
    const emulator = await startEmulator({
      seed: {
        projects: [
          {
            id: 1,
            name: 'P',
            buckets: [{ id: 'in.c-a', tables: [{ name: 't', columns: ['id'], rows: [['1']] }] }],
            tokens: [{ token: master, isMasterToken: true, description: 'master' }],
          },
        ],
      },
      quiet: true,
    });
    // The delete's job begins, then waits at its first write until the hold is released.
    emulator.control.addFault({ kind: 'holdWrites', path: '/tables/in.c-a.t' });
    const answer = await fetch(`${emulator.url}/v2/storage/tables/in.c-a.t?async=1`, {
      method: 'DELETE',
      headers: { 'X-StorageApi-Token': master },
    });
    expect(answer.status).toBe(202);
    await answer.arrayBuffer();
    // Bounded by the test's timeout: a close that waited for the held job never returned.
    await emulator.close();
    expect(await readdir(scratch)).toEqual([]);
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    await rm(scratch, { recursive: true, force: true });
  }
}, 30_000);

it('refuses a negative job duration at start and leaves no work folder behind', async () => {
  const scratch = await mkdtemp(join(tmpdir(), 'kbc-emulator-start-'));
  const before = process.env.TMPDIR;
  // os.tmpdir() reads TMPDIR on every call: the emulator's own work folder goes in here.
  process.env.TMPDIR = scratch;
  try {
    await expect(startEmulator({ jobDurationMs: -1, quiet: true })).rejects.toThrow(
      'The job duration must be a number of milliseconds ≥ 0, not -1.',
    );
    expect(await readdir(scratch)).toEqual([]);
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    await rm(scratch, { recursive: true, force: true });
  }
});
