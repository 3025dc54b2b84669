import { describe, expect, it } from 'vitest';
import type { CredentialScopeSpec } from '../../../src/objects/credentials.js';
import { CredentialRegistry, isExpired, scopeDenial } from '../../../src/objects/credentials.js';

const spec: CredentialScopeSpec = {
  provider: 'aws',
  bucket: 'files',
  keyPrefix: 'exp/1.csv.gz',
  exactKey: false,
  mode: 'read',
  requireSse: false,
  purpose: 'federation',
};

describe('scopeDenial', () => {
  it.each([
    [spec, 'files', 'exp/1.csv.gz0000_part_00.gz', false, undefined],
    [spec, 'files', 'exp/1.csv.gzmanifest', false, undefined],
    [spec, 'files', 'exp/2.csv.gz', false, 'key'],
    [spec, 'other', 'exp/1.csv.gz', false, 'bucket'],
    [spec, 'files', 'exp/1.csv.gz', true, 'mode'],
    [{ ...spec, mode: 'write' as const }, 'files', 'exp/1.csv.gzx', true, undefined],
    [{ ...spec, exactKey: true }, 'files', 'exp/1.csv.gz_part0001', false, 'key'],
    [{ ...spec, exactKey: true }, 'files', 'exp/1.csv.gz', false, undefined],
  ])('%#: %s %s write=%s → %s', (credential, bucket, key, write, expected) => {
    expect(scopeDenial(credential, bucket, key, write)).toBe(expected);
  });
});

describe('CredentialRegistry', () => {
  it('issues random, provider-shaped ids that expire by the given clock', () => {
    const registry = new CredentialRegistry();
    const a = registry.issue(spec, 1_000, 60);
    const b = registry.issue(spec, 1_000, 60);
    expect(a.id).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(a.id).not.toBe(b.id);
    expect(a.secret).not.toBe(b.secret);
    expect(a.sessionToken.length).toBeGreaterThan(100);
    expect(registry.issue({ ...spec, provider: 'gcp' }, 0, 1).id).toMatch(/^ya29\./);
    expect(isExpired(a, 60_999)).toBe(false);
    expect(isExpired(a, 61_000)).toBe(true);
    expect(registry.get(a.id)).toBe(a);
  });

  it('expires everything issued so far at once', () => {
    const registry = new CredentialRegistry();
    const a = registry.issue(spec, 0, 3600);
    registry.alias('sas:xyz', a);
    registry.expireAll(10);
    expect(isExpired(registry.get('sas:xyz')!, 10)).toBe(true);
    const later = registry.issue(spec, 10, 3600);
    expect(isExpired(later, 10)).toBe(false);
  });
});
