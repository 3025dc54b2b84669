import { describe, expect, it } from 'vitest';
import { checkBucketId, checkNamePart, checkTableRef } from '../../src/config/names.js';
import {
  DEFAULT_LIMITS,
  LIMIT_OVERRIDES,
  limitsFromEnv,
  overrideProblem,
  type EnvOverride,
} from '../../src/limits.js';
import { looksLikeToken, SecretMasker } from '../../src/secrets.js';
import { escapeForDisplay, escapeJsonLine } from '../../src/text/escape.js';

describe('escapeForDisplay', () => {
  it('escapes control, line-separator and bidi characters, and nothing else', () => {
    expect(escapeForDisplay('a\nb\u0001c\u202ed\u2028e é')).toBe(
      'a\\u{a}b\\u{1}c\\u{202e}d\\u{2028}e é',
    );
  });

  it('keeps a JSON line valid JSON with no raw bidi character', () => {
    const line = JSON.stringify({ msg: 'x\u202ey\u0085' });
    const escaped = escapeJsonLine(line);
    expect(escaped).not.toMatch(/[\u202e\u0085]/);
    expect(JSON.parse(escaped)).toEqual({ msg: 'x\u202ey\u0085' });
  });
});

describe('limitsFromEnv', () => {
  it('reads the documented variables in their units and ignores junk', () => {
    const limits = limitsFromEnv({
      KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '2',
      KBC_TABLE_SYNC_MAX_ANSWER_MB: '1',
      KBC_TABLE_SYNC_SLICE_PROGRESS_WINDOW_S: '0.5',
      KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS: '10',
      KBC_TABLE_SYNC_MIN_SLICE_BYTES: 'lots',
      KBC_TABLE_SYNC_MAX_INFLATE_RATIO: '-3',
    });
    expect(limits.requestTimeoutMs).toBe(2_000);
    expect(limits.maxAnswerBytes).toBe(1024 * 1024);
    expect(limits.sliceProgressWindowMs).toBe(500);
    expect(limits.sliceRetryBaseMs).toBe(10);
    expect(limits.minSliceBytesPerWindow).toBe(DEFAULT_LIMITS.minSliceBytesPerWindow);
    expect(limits.maxInflateRatio).toBe(DEFAULT_LIMITS.maxInflateRatio);
  });

  it('names the overrides that are not positive numbers, so that the run can refuse them', () => {
    expect(
      refusedOverrides(
        {
          KBC_TABLE_SYNC_MIN_SLICE_BYTES: 'lots',
          KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS: 'soon',
          KBC_TABLE_SYNC_MAX_INFLATE_RATIO: '-3',
          KBC_TABLE_SYNC_MAX_STATE_MB: '0',
          KBC_TABLE_SYNC_MAX_CONFIG_MB: ' ',
          KBC_TABLE_SYNC_MAX_ANSWER_MB: '2',
        },
        LIMIT_OVERRIDES,
      ),
    ).toEqual([
      'KBC_TABLE_SYNC_MIN_SLICE_BYTES',
      'KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS',
      'KBC_TABLE_SYNC_MAX_INFLATE_RATIO',
      'KBC_TABLE_SYNC_MAX_STATE_MB',
    ]);
  });

  it('refuses a duration a Node.js timer cannot wait and a size that rounds below its unit', () => {
    // Node fires a timer above 2^31 - 1 ms after 1 ms: a deadline would become an instant timeout.
    expect(
      refusedOverrides(
        {
          KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '3000000',
          KBC_TABLE_SYNC_FIRST_CONTACT_TIMEOUT_S: '2147483.647',
          KBC_TABLE_SYNC_SLICE_PROGRESS_WINDOW_S: '1e400',
          KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS: '2147483648',
          KBC_TABLE_SYNC_MAX_CONFIG_MB: '0.0000001',
          KBC_TABLE_SYNC_MAX_STATE_MB: '0.5',
          KBC_TABLE_SYNC_MAX_ANSWER_MB: '1',
          KBC_TABLE_SYNC_MAX_INFLATE_RATIO: '0.4',
        },
        LIMIT_OVERRIDES,
      ),
    ).toEqual([
      'KBC_TABLE_SYNC_REQUEST_TIMEOUT_S',
      'KBC_TABLE_SYNC_SLICE_PROGRESS_WINDOW_S',
      'KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS',
      'KBC_TABLE_SYNC_MAX_INFLATE_RATIO',
      'KBC_TABLE_SYNC_MAX_CONFIG_MB',
      'KBC_TABLE_SYNC_MAX_STATE_MB',
    ]);
    const override = (name: string): EnvOverride => {
      const found = LIMIT_OVERRIDES.find((o) => o.name === name);
      if (!found) throw new Error(`no override ${name}`);
      return found;
    };
    expect(
      overrideProblem(
        { KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '3000000' },
        override('KBC_TABLE_SYNC_REQUEST_TIMEOUT_S'),
      ),
    ).toBe(
      'is above 2147483.647, the largest value it takes (a Node.js timer waits at most 2147483647 ms)',
    );
    expect(
      overrideProblem(
        { KBC_TABLE_SYNC_MAX_CONFIG_MB: '0.0000001' },
        override('KBC_TABLE_SYNC_MAX_CONFIG_MB'),
      ),
    ).toBe('is below 1, the smallest value it takes');
    expect(
      overrideProblem(
        { KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '0.0001' },
        override('KBC_TABLE_SYNC_REQUEST_TIMEOUT_S'),
      ),
    ).toBe('is below 0.001, the smallest value it takes');
    expect(
      limitsFromEnv({ KBC_TABLE_SYNC_FIRST_CONTACT_TIMEOUT_S: '2147483.647' })
        .firstContactTimeoutMs,
    ).toBe(2_147_483_647);
  });
});

describe('names', () => {
  it('follow the rules of docs/configuration.md', () => {
    expect(checkNamePart('orders_2024-x', 'table name').ok).toBe(true);
    expect(checkNamePart('a'.repeat(97), 'table name').ok).toBe(false);
    expect(checkBucketId('in.c-copy', ['in', 'out']).ok).toBe(true);
    expect(checkBucketId('sys.c-copy', ['in', 'out']).ok).toBe(false);
    expect(checkTableRef('sys.c-x.t', ['in', 'out', 'sys'], 'hint').ok).toBe(true);
    expect(checkTableRef('in.c-x/y.z', ['in', 'out'], 'hint').ok).toBe(false);
  });

  it('never accept a token shape', () => {
    const token = `12-345-${'A1'.repeat(20)}`;
    expect(looksLikeToken(token)).toBe(true);
    expect(checkNamePart(token, 'table name')).toMatchObject({ ok: false });
    expect(checkNamePart('kbc_pat_abcdefgh', 'table name')).toMatchObject({ ok: false });
    expect(new SecretMasker().mask(`dest ${token}.csv`)).toBe('dest [hidden].csv');
  });
});

/** The variables of `overrides` that `env` sets to a value the run refuses, as the run checks them. */
function refusedOverrides(
  env: Readonly<Record<string, string | undefined>>,
  overrides: readonly EnvOverride[],
): string[] {
  return overrides
    .filter((override) => overrideProblem(env, override) !== undefined)
    .map(({ name }) => name);
}
