/**
 * The emulator's command (emulator/src/bin.ts) as a user starts it: a port already taken gets one
 * sentence with the way out, not the usage text (that is for usage mistakes).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';

const BIN = fileURLToPath(new URL('../../emulator/dist/bin.js', import.meta.url));
const emulator = useEmulator(undefined);

function runBin(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { timeout: 20_000, env },
      (_e, _o, stderr) => resolve({ code: child.exitCode, stderr }),
    );
  });
}

describe('keboola-storage-emulator command', () => {
  it('a port already in use: exit 1 with one sentence suggesting --port 0, and no work folder left behind', async () => {
    const port = new URL(emulator.url).port;
    // Its own temporary folder, so that what the failed start leaves there is seen.
    const tempDir = await mkdtemp(join(tmpdir(), 'emulator-bin-'));
    try {
      const result = await runBin(['--port', port], { ...process.env, TMPDIR: tempDir });
      expect(result).toEqual({
        code: 1,
        stderr:
          'keboola-storage-emulator: the port is already in use (another emulator?): stop that one, or pass --port 0 for a free port.\n',
      });
      expect(await readdir(tempDir)).toEqual([]);
    } finally {
      await rm(tempDir, { recursive: true, force: true });
    }
  });

  it('a usage mistake still gets the usage text', async () => {
    const result = await runBin(['--port', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^keboola-storage-emulator: --port must be a port number/);
    expect(result.stderr).toContain('Usage: keboola-storage-emulator');
  });
});
