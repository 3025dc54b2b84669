import { describe, expect, it } from 'vitest';
import { connectionResult } from '../../../src/actions/sync-actions.js';

const auth = { bucketId: 'in.c-sales', projectId: 101, projectName: 'Sales', warnings: [] };

describe('connectionResult (the Test connection button)', () => {
  it('says what the token reads, as a validation button’s success', () => {
    expect(connectionResult(auth, null)).toEqual({
      status: 'success',
      type: 'success',
      message: 'The token reads the bucket `in.c-sales` of project `Sales` (101), read-only.',
      lastActivity: null,
    });
  });

  it('shows the token rules’ warnings on the button, as a warning', () => {
    const warned = connectionResult(
      { ...auth, warnings: ['The token expires in 2 day(s):\nrotate it.'] },
      null,
    );
    expect(warned).toMatchObject({ status: 'success', type: 'warning' });
    expect(warned.message.split('\n')).toEqual([
      'The token reads the bucket `in.c-sales` of project `Sales` (101), read-only.',
      '- The token expires in 2 day(s): rotate it.',
    ]);
  });

  it('shows a project name as code, so markdown in it is never rendered', () => {
    const { message } = connectionResult(
      { ...auth, projectName: '[x](https://evil)` **b**' },
      null,
    );
    expect(message).toContain("project `[x](https://evil)' **b**` (101)");
  });
});
