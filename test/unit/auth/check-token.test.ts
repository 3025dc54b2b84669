import { describe, expect, it } from 'vitest';
import {
  describeTimeLeft,
  canSeeDestinationBucket,
  bucketCreateRequest,
  checkDestinationToken,
  checkSourceToken,
  destinationTokenWarnings,
  unneededPrivilegeWarnings,
} from '../../../src/auth/check-token.js';
import { UserError } from '../../../src/errors.js';
import { tokenInfo } from '../../helpers/fixtures.js';

const nowMs = Date.parse('2026-01-01T00:00:00Z');

describe('checkSourceToken', () => {
  it('accepts a read-only token on one bucket', () => {
    const auth = checkSourceToken(tokenInfo(), { nowMs });
    expect(auth).toEqual({
      tokenId: '67319',
      bucketId: 'in.c-sales',
      projectId: 578,
      projectName: 'Sales',
      warnings: [],
    });
  });

  it.each([
    [
      'a write token',
      { bucketPermissions: { 'in.c-sales': 'write' } },
      'read-only permissions to the bucket "in.c-sales"',
    ],
    [
      'two buckets',
      { bucketPermissions: { 'in.c-a': 'read', 'in.c-b': 'read' } },
      'single bucket only (it has 2: in.c-a, in.c-b)',
    ],
    ['no bucket', { bucketPermissions: {} }, 'single bucket only (it has none)'],
    [
      'a master token',
      { isMasterToken: true, bucketPermissions: { 'in.c-a': 'manage' } },
      'is a master token',
    ],
    ['canManageBuckets', { canManageBuckets: true }, 'can manage buckets'],
    ['canManageTokens', { canManageTokens: true }, 'can manage tokens'],
    ['an expired token', { isExpired: true }, 'has expired'],
    ['a disabled token', { isDisabled: true }, 'is disabled'],
  ])('rejects %s with one sentence', (_name, overrides, text) => {
    const run = () => checkSourceToken(tokenInfo(overrides), { nowMs });
    expect(run).toThrow(UserError);
    expect(run).toThrow(text);
  });

  it('warns about expiry within 14 days, file-upload reach and a region mismatch', () => {
    const auth = checkSourceToken(
      tokenInfo({ expires: '2026-01-05T00:00:00+0000', canReadAllFileUploads: true }),
      { nowMs, configuredRegion: 'eu-central-1' },
    );
    expect(auth.warnings).toHaveLength(3);
    expect(auth.warnings[0]).toBe(
      'The source token expires in about 4 days (2026-01-05T00:00:00+0000): create a new one with "kbc-table-sync token create" before scheduled runs fail, as token rotate may keep the expiry.',
    );
    expect(auth.warnings[1]).toContain('read all file uploads');
    expect(auth.warnings[2]).toContain('"us-east-1"');
  });

  it('warns, after the other warnings, about component access and each privilege flag the job never uses', () => {
    const auth = checkSourceToken(
      tokenInfo({
        canReadAllFileUploads: true,
        componentAccess: ['keboola.ex-db-mysql', 'keboola.wr-google-drive'],
        canCreateJobs: true,
        canManageDevBranches: true,
        canReadAllProjectEvents: true,
        canPurgeTrash: true,
        canManageProtectedDefaultBranch: true,
      }),
      { nowMs },
    );
    expect(auth.warnings).toEqual([
      'The source token can read all file uploads of the source project: a token without that permission is safer.',
      'The source token may use the components "keboola.ex-db-mysql", "keboola.wr-google-drive" (componentAccess): the job uses none, so a token without component access is safer.',
      'The source token can create jobs (canCreateJobs): the job never does, so a token without that privilege is safer.',
      'The source token can manage development branches (canManageDevBranches): the job never does, so a token without that privilege is safer.',
      'The source token can read all events of the project (canReadAllProjectEvents): the job never does, so a token without that privilege is safer.',
      'The source token can delete configurations from the trash for good (canPurgeTrash): the job never does, so a token without that privilege is safer.',
      'The source token can manage the protected default branch (canManageProtectedDefaultBranch): the job never does, so a token without that privilege is safer.',
    ]);
  });

  it.each([
    [5 * 86_400_000 - 1_000, 'about 5 days'],
    [86_400_000 - 1_000, 'about 24 hour(s)'],
    [47.4 * 3_600_000, 'about 47 hour(s)'],
    [20 * 60_000, 'less than an hour'],
  ])('rounds the time left to the nearest unit (%i ms: %s)', (leftMs, text) => {
    expect(describeTimeLeft(leftMs)).toBe(text);
    const expires = new Date(nowMs + leftMs).toISOString();
    const auth = checkSourceToken(tokenInfo({ expires }), { nowMs });
    expect(auth.warnings[0]).toContain(`expires in ${text} (`);
  });

  it('an expiry already past by this clock (Storage still takes the token) is said as such', () => {
    const expires = new Date(nowMs - 60_000).toISOString();
    const auth = checkSourceToken(tokenInfo({ expires }), { nowMs });
    expect(auth.warnings[0]).toBe(
      `The source token expires at ${expires}, already past by this machine's clock: create a new one with "kbc-table-sync token create" before scheduled runs fail.`,
    );
  });

  it('does not warn about a far expiry', () => {
    const auth = checkSourceToken(tokenInfo({ expires: '2027-01-01T00:00:00+0000' }), { nowMs });
    expect(auth.warnings).toEqual([]);
  });
});

describe('unneededPrivilegeWarnings', () => {
  it('names the role and each privilege, one sentence each; none for a token without them', () => {
    expect(unneededPrivilegeWarnings(tokenInfo(), 'destination')).toEqual([]);
    expect(
      unneededPrivilegeWarnings(
        tokenInfo({ componentAccess: ['keboola.orchestrator'], canManageDevBranches: true }),
        'destination',
      ),
    ).toEqual([
      'The destination token may use the components "keboola.orchestrator" (componentAccess): the job uses none, so a token without component access is safer.',
      'The destination token can manage development branches (canManageDevBranches): the job never does, so a token without that privilege is safer.',
    ]);
  });
});

describe('destinationTokenWarnings', () => {
  it('warns about an expiry within 14 days, then the unneeded privileges, with the destination role word', () => {
    expect(destinationTokenWarnings(tokenInfo(), nowMs)).toEqual([]);
    expect(
      destinationTokenWarnings(
        tokenInfo({ expires: '2026-01-05T00:00:00+0000', canCreateJobs: true }),
        nowMs,
      ),
    ).toEqual([
      'The destination token expires in about 4 days (2026-01-05T00:00:00+0000): create a new one with "kbc-table-sync token create" before scheduled runs fail, as token rotate may keep the expiry.',
      'The destination token can create jobs (canCreateJobs): the job never does, so a token without that privilege is safer.',
    ]);
    expect(
      destinationTokenWarnings(tokenInfo({ expires: '2026-03-01T00:00:00+0000' }), nowMs),
    ).toEqual([]);
  });
});

describe('checkDestinationToken', () => {
  it('accepts write on an existing bucket', () => {
    const token = tokenInfo({ bucketPermissions: { 'in.c-copy': 'write' } });
    expect(checkDestinationToken(token, 'in.c-copy', true).bucketToCreate).toBeUndefined();
  });

  it('rejects read on the bucket', () => {
    const token = tokenInfo({ bucketPermissions: { 'in.c-copy': 'read' } });
    expect(() => checkDestinationToken(token, 'in.c-copy', true)).toThrow(
      'must have write permission to the bucket "in.c-copy" (it has "read")',
    );
  });

  it('creates a missing bucket only with canManageBuckets', () => {
    const limited = tokenInfo({ bucketPermissions: {} });
    expect(() => checkDestinationToken(limited, 'in.c-copy', false)).toThrow(
      'may not create buckets',
    );
    const manager = tokenInfo({ canManageBuckets: true });
    expect(checkDestinationToken(manager, 'in.c-copy', false).bucketToCreate).toEqual({
      stage: 'in',
      name: 'copy',
    });
  });
});

describe('bucketCreateRequest', () => {
  it('sends the name without c- to a project that adds it to new bucket names', () => {
    expect(bucketCreateRequest('out.c-copy', [])).toEqual({ stage: 'out', name: 'copy' });
  });

  it('refuses an id without c- there, naming the id that would work', () => {
    expect(() => bucketCreateRequest('out.copy', ['queuev2'])).toThrow(
      'The destination bucket "out.copy" does not exist and cannot be created under that id: the destination project adds "c-" to the names of new buckets, so use "out.c-copy" instead, or create the bucket first.',
    );
  });

  it('sends the name as it is to a project with disable-legacy-bucket-prefix', () => {
    const features = ['queuev2', 'disable-legacy-bucket-prefix'];
    expect(bucketCreateRequest('out.copy', features)).toEqual({ stage: 'out', name: 'copy' });
    expect(bucketCreateRequest('out.c-copy', features)).toEqual({ stage: 'out', name: 'c-copy' });
  });
});

describe('destination bucket visibility', () => {
  it('refuses a bucket the limited token has no permission to, whether it exists or not', () => {
    const token = tokenInfo({ bucketPermissions: { 'in.c-copy': 'write' } });
    expect(canSeeDestinationBucket(token, 'in.c-other')).toBe(false);
    for (const exists of [true, false]) {
      expect(() => checkDestinationToken(token, 'in.c-other', exists)).toThrow(
        'The destination token has no permission to the bucket "in.c-other" and may not create buckets',
      );
    }
    expect(canSeeDestinationBucket(tokenInfo({ canManageBuckets: true }), 'in.c-other')).toBe(true);
  });

  it('suggests a bucket the token may write whose id is near the configured one', () => {
    const token = tokenInfo({ bucketPermissions: { 'in.c-copy': 'write', 'in.c-cop': 'read' } });
    expect(() => checkDestinationToken(token, 'in.copy', true)).toThrow(
      'The destination token has no permission to the bucket "in.copy" and may not create buckets: give it write permission to that bucket (create the bucket first if it does not exist); or did you mean "in.c-copy", which it may write?',
    );
    expect(() => checkDestinationToken(token, 'in.c-other', true)).toThrow(
      /\(create the bucket first if it does not exist\)\.$/,
    );
  });
});
