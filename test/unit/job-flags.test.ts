import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOB_ENV, JOB_NODE_FLAGS } from '../../bench/job-flags.js';

describe('the node flags and environment of the job', () => {
  it('are the same flags in the Dockerfile ENTRYPOINT and in the benchmark', async () => {
    const dockerfile = await readFile(join(import.meta.dirname, '..', '..', 'Dockerfile'), 'utf8');
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(entrypoint ?? '[]')).toEqual([
      'node',
      ...JOB_NODE_FLAGS,
      '/app/dist/main.js',
    ]);
  });

  it("set the benchmark's environment in the Dockerfile ENV", async () => {
    const dockerfile = await readFile(join(import.meta.dirname, '..', '..', 'Dockerfile'), 'utf8');
    // The ENV instruction and its continuation lines.
    const instruction = /^ENV (?:.*\\\n)*.*$/m.exec(dockerfile)?.[0] ?? '';
    const pairs = instruction.match(/[A-Z_]+=\S+/g) ?? [];
    for (const [name, value] of Object.entries(JOB_ENV))
      expect(pairs).toContain(`${name}=${value}`);
  });
});
