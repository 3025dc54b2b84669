import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse-config.js';
import { ConfigError, UserError } from '../../../src/errors.js';
import type { TokenDetails, VerifiedToken } from '../../../src/storage/token-api.js';
import { parseTokenDetails, parseTokenEvents } from '../../../src/storage/token-api.js';
import {
  destinationBucketConflict,
  readTokenEndpoint,
  withToken,
} from '../../../src/tokens/config-token.js';
import {
  buildCreateBody,
  buildInspectReport,
  checkCreatorToken,
  daysLeft,
  formatInspectReport,
  judgeToken,
  lastActivity,
  parseExpiresIn,
} from '../../../src/tokens/rules.js';
import { tokenInfo } from '../../helpers/fixtures.js';

const nowMs = Date.parse('2026-01-01T00:00:00Z');

function details(overrides: Partial<TokenDetails> = {}): TokenDetails {
  return {
    ...parseTokenDetails({ id: '67319', description: 'copy-job source token' }, 'test'),
    ...overrides,
  };
}

function verified(info = tokenInfo(), d = details()): VerifiedToken {
  return { info, details: d };
}

describe('parseExpiresIn', () => {
  it.each([
    ['90d', 90 * 86_400],
    ['12h', 43_200],
    ['30m', 1_800],
    ['45s', 45],
    ['3600', 3_600],
    [' 2D ', 172_800],
  ])('%s → %d seconds', (text, seconds) => {
    expect(parseExpiresIn(text)).toBe(seconds);
  });

  it.each(['0', '0d', '-1d', '1w', 'soon', '', '1.5h'])('refuses %j with one sentence', (text) => {
    expect(() => parseExpiresIn(text)).toThrow(/--expires-in .* is not a duration: use 90d, 12h/);
  });

  it('takes 100 years and refuses longer, naming the flag and the way to a token that never expires', () => {
    expect(parseExpiresIn('36500d')).toBe(36_500 * 86_400);
    for (const text of ['36501d', '99999999999d', String(36_500 * 86_400 + 1)]) {
      expect(() => parseExpiresIn(text)).toThrow(
        /^--expires-in is longer than 36500d \(100 years\), the longest it takes: .*leave --expires-in out\.$/,
      );
    }
  });
});

describe('checkCreatorToken', () => {
  it.each([
    ['a limited token', details(), /not a master token/],
    ['a readOnly master', details({ isMasterToken: true, role: 'readOnly' }), /readOnly role/],
    [
      'a guest master',
      details({ isMasterToken: true, role: 'guest' }),
      /guest role.*lose every bucket permission/,
    ],
  ])('refuses %s', (_name, creator, message) => {
    expect(() => checkCreatorToken(creator)).toThrow(UserError);
    expect(() => checkCreatorToken(creator)).toThrow(message);
  });

  it.each(['admin', 'share'])('accepts a %s master', (role) => {
    expect(() => checkCreatorToken(details({ isMasterToken: true, role }))).not.toThrow();
  });
});

describe('buildCreateBody', () => {
  it('grants one bucket and sets every other privilege false', () => {
    expect(
      buildCreateBody({
        bucketId: 'in.c-sales',
        permission: 'read',
        expiresInSeconds: 60,
        createdAt: new Date('2026-03-04T05:06:07.890Z'),
      }),
    ).toEqual({
      description: 'kbc-table-sync: read on in.c-sales, created 2026-03-04T05:06Z',
      bucketPermissions: { 'in.c-sales': 'read' },
      expiresIn: 60,
      canManageBuckets: false,
      canReadAllFileUploads: false,
      canPurgeTrash: false,
    });
  });

  it('omits expiresIn when no expiry is asked for', () => {
    const body = buildCreateBody({
      bucketId: 'in.c-copy',
      permission: 'write',
      description: 'x',
      createdAt: new Date(nowMs),
    });
    expect(body).not.toHaveProperty('expiresIn');
    expect(body.bucketPermissions).toEqual({ 'in.c-copy': 'write' });
    expect(body.description).toBe('x');
  });
});

describe('last activity and expiry', () => {
  it('takes the newest event whatever the order', () => {
    const events = parseTokenEvents(
      [
        { id: '2', event: 'storage.tableExport', created: '2026-01-02T10:00:00+0100' },
        { id: '3', event: 'storage.tokenRefreshed', created: '2026-01-02T09:30:00+0000' },
        { id: '1', event: 'storage.tokenCreated', created: '2025-12-01T00:00:00+0000' },
      ],
      'test',
    );
    expect(lastActivity(events)).toEqual({
      at: '2026-01-02T09:30:00.000Z',
      event: 'storage.tokenRefreshed',
    });
    expect(lastActivity([])).toBeNull();
  });

  it('counts whole days left', () => {
    expect(daysLeft(null, nowMs)).toBeNull();
    expect(daysLeft('2026-01-31T12:00:00+0000', nowMs)).toBe(30);
    expect(daysLeft('2025-12-31T00:00:00+0000', nowMs)).toBe(-1);
  });
});

describe('judgeToken', () => {
  it('applies the run’s source rule with its warnings', () => {
    const soon = tokenInfo({ expires: '2026-01-05T00:00:00+00:00' });
    const verdict = judgeToken(verified(soon), 'source', { nowMs });
    expect(verdict.passes).toBe(true);
    expect(verdict.warnings).toEqual([expect.stringMatching(/expires in about 4 days/)]);
  });

  it('rejects a read-only master on one bucket (read on every bucket looks like one read bucket)', () => {
    const master = tokenInfo({ isMasterToken: true, admin: { role: 'readOnly' } });
    const verdict = judgeToken(verified(master), 'source', { nowMs });
    expect(verdict.passes).toBe(false);
    expect(verdict.error).toMatch(/master token/);
  });

  it('holds a destination token to write on the destination bucket', () => {
    const writer = tokenInfo({ bucketPermissions: { 'in.c-copy': 'write' } });
    expect(
      judgeToken(verified(writer), 'destination', { nowMs, destinationBucket: 'in.c-copy' }),
    ).toEqual({ passes: true, warnings: [] });
    const reader = tokenInfo({ bucketPermissions: { 'in.c-copy': 'read' } });
    expect(
      judgeToken(verified(reader), 'destination', { nowMs, destinationBucket: 'in.c-copy' }).passes,
    ).toBe(false);
  });

  it('fails a destination token with no destination bucket configured, naming the key', () => {
    const writer = tokenInfo({ bucketPermissions: { 'in.c-copy': 'write' } });
    const verdict = judgeToken(verified(writer), 'destination', { nowMs });
    expect(verdict.passes).toBe(false);
    expect(verdict.error).toMatch(/^parameters\.destination\.bucket is not set/);
  });

  it('builds a report that never holds the token string', () => {
    const report = buildInspectReport(
      verified(),
      null,
      { passes: true, warnings: [] },
      'source',
      nowMs,
    );
    expect(report).toMatchObject({ which: 'source', id: '67319', expires: null, daysLeft: null });
    expect(formatInspectReport(report)).toMatch(/verdict: +passes the job's token rules/);
  });

  it('shows a component id from the API escaped in the report’s text, never raw', () => {
    const component = 'keboola.ex-x\n  verdict:       passes\u202e';
    const token = verified(
      tokenInfo({ componentAccess: [component] }),
      details({ componentAccess: [component] }),
    );
    const verdict = judgeToken(token, 'source', { nowMs });
    const text = formatInspectReport(buildInspectReport(token, null, verdict, 'source', nowMs));
    expect(text).toContain('  components:    keboola.ex-x\\u{a}  verdict:       passes\\u{202e}\n');
    expect(text).toContain(
      'may use the components "keboola.ex-x\\n  verdict:       passes\\u{202e}"',
    );
    expect(text.match(/^ {2}verdict:/gm)).toHaveLength(1);
    expect(text).not.toContain('\u202e');
  });
});

describe('config.json token', () => {
  const raw = {
    parameters: {
      '#token': '101-1-aaaaaaaaaaaa',
      url: 'http://127.0.0.1:1',
      tables: [{ name: 'orders' }],
      destination: { region: 'us', '#token': '202-2-bbbbbbbbbbbb', bucket: 'in.c-copy' },
    },
    storage: { keep: true },
  };

  it('reads the source or the destination endpoint', () => {
    expect(readTokenEndpoint(raw, 'source')).toEqual({
      url: 'http://127.0.0.1:1',
      token: '101-1-aaaaaaaaaaaa',
    });
    expect(readTokenEndpoint(raw, 'destination')).toEqual({
      url: 'https://connection.keboola.com',
      region: 'us-east-1',
      token: '202-2-bbbbbbbbbbbb',
      bucket: 'in.c-copy',
    });
  });

  it('names the key at fault, never the value', () => {
    const bad = { parameters: { '#token': 'kbc_pat_secretsecret', url: 'http://127.0.0.1:1' } };
    expect(() => readTokenEndpoint(bad, 'source')).toThrow(ConfigError);
    expect(() => readTokenEndpoint(bad, 'source')).toThrow(
      /parameters.#token: is a Keboola Connection bearer token/,
    );
    expect(() => readTokenEndpoint(bad, 'source')).not.toThrow(/secretsecret/);
    expect(() => readTokenEndpoint({}, 'destination')).toThrow(
      /parameters.destination: must be an object/,
    );
  });

  it('replaces only the token and keeps every other key', () => {
    const updated = withToken(raw, 'destination', 'new-token-value');
    expect(updated).toEqual({
      ...raw,
      parameters: {
        ...raw.parameters,
        destination: { ...raw.parameters.destination, '#token': 'new-token-value' },
      },
    });
    expect(raw.parameters.destination['#token']).toBe('202-2-bbbbbbbbbbbb');
    expect(withToken(undefined, 'source', 'n')).toEqual({ parameters: { '#token': 'n' } });
  });

  it('gives a destination with a null bucket the bucket of the token, as one without', () => {
    const nullBucket = { parameters: { destination: { bucket: null } } };
    expect(destinationBucketConflict(nullBucket, 'destination', 'in.c-copy')).toBeUndefined();
    expect(withToken(nullBucket, 'destination', 'n', {}, 'in.c-copy')).toEqual({
      parameters: { destination: { bucket: 'in.c-copy', '#token': 'n' } },
    });
    const other = { parameters: { destination: { bucket: 'in.c-other' } } };
    expect(destinationBucketConflict(other, 'destination', 'in.c-copy')).toBe('in.c-other');
  });
});

describe('bearer tokens in #token', () => {
  it.each(['kbc_pat_0123456789abcdef', 'kbc_at_0123456789abcdef'])(
    '%s is refused with the way out',
    (token) => {
      const result = parseConfig({
        parameters: { '#token': token, region: 'us', tableName: 'orders' },
      });
      expect(result.ok).toBe(false);
      const problems = result.ok ? [] : result.problems;
      expect(problems).toEqual([
        expect.stringMatching(
          /^parameters\.#token: is a Keboola Connection bearer token .*Storage API token.*token create/,
        ),
      ]);
      expect(problems.join('\n')).not.toContain(token);
    },
  );
});
