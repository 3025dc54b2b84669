import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOB_NODE_FLAGS } from '../../bench/job-flags.js';

describe('the node flags of the job', () => {
  it('are the same in the Dockerfile ENTRYPOINT and in the benchmark', async () => {
    const dockerfile = await readFile(join(import.meta.dirname, '..', '..', 'Dockerfile'), 'utf8');
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(entrypoint ?? '[]')).toEqual([
      'node',
      ...JOB_NODE_FLAGS,
      '/app/dist/main.js',
    ]);
  });
});
