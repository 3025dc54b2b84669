import { describe, expect, it } from 'vitest';
import { checkBucketId, checkNamePart, checkTableRef } from '../../src/config/names.js';
import {
  DEFAULT_LIMITS,
  LIMIT_OVERRIDES,
  invalidOverrides,
  limitsFromEnv,
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
      invalidOverrides(
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
