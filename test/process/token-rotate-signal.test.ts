/**
 * SIGTERM while `token rotate` waits for the answer to its refresh (docs/tokens.md, token rotate):
 * the built CLI as a child process, since the bootstrap's signal handling and its forced exit
 * 1.5 s after the signal are the process's own. The refresh is held by the emulator either after
 * it was handled (the old string is dead) or before (it never reached the server); either way
 * the command checks the old string within the grace time and says what became of the token, and
 * leaves no lock and no new file behind.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { listFiles, makeDataDir, startCliProcess } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';

const emulator = useEmulator({
  projects: [
    {
      id: 101,
      name: 'Sales',
      buckets: [{ id: 'in.c-sales', tables: [{ name: 'orders', columns: ['id'], rows: [['1']] }] }],
    },
  ],
});

async function verifyStatus(tokenString: string): Promise<number> {
  const response = await fetch(`${emulator.url}/v2/storage/tokens/verify`, {
    headers: { 'X-StorageApi-Token': tokenString },
  });
  await response.arrayBuffer();
  return response.status;
}

describe('SIGTERM during the refresh of token rotate', () => {
  it.each([
    ['handled, its answer held', true, 401],
    ['held before the server acted', false, 200],
  ] as const)(
    'while the refresh is %s: exit 1 with the sentence, the lock and the new file gone',
    async (_name, afterHandling, oldStatus) => {
      const old = emulator.control.createToken(101, {
        bucketPermissions: { 'in.c-sales': 'read' },
      });
      const dir = await makeDataDir({
        parameters: { url: emulator.url, '#token': old, tables: [{ name: 'orders' }] },
      });
      const before = await readFile(join(dir, 'config.json'), 'utf8');
      const label = `rotate-stop-${String(afterHandling)}`;
      const held = emulator.control.whenFaultApplied(label);
      emulator.control.addFault({
        kind: 'hold',
        afterHandling,
        method: 'POST',
        path: '/refresh',
        label,
      });
      try {
        const run = startCliProcess(['token', 'rotate', '--data', dir], { timeoutMs: 30_000 });
        await held;
        run.kill('SIGTERM');
        const result = await run.done;
        const key = `parameters.#token of ${dir}/config.json`;
        const outcome =
          oldStatus === 401
            ? `it did happen: the token in ${key} no longer works and its new string is lost, so create a new one with "kbc-table-sync token create".`
            : `it did not happen: the token in ${key} still works and nothing was changed, so running token rotate again is safe.`;
        expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
        expect(result.stdout).toBe('');
        expect(result.stderr).toBe(
          `The refresh of the source token was cut short by SIGTERM; ${outcome}\n`,
        );
        await expectNoSecrets(emulator.control.issuedSecrets(), result, dir);
        expect(await verifyStatus(old)).toBe(oldStatus);
        expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
        expect((await readdir(dir)).sort()).toEqual(['config.json', 'out']);
        expect(await listFiles(join(dir, 'out'))).toEqual([]);
      } finally {
        emulator.control.clearFaults();
      }
    },
  );
});
