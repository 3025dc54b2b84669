import { describe, expect, it } from 'vitest';
import {
  CLOCK_SKEW_MARGIN_SECONDS,
  decideSkip,
  parseStorageTimestampSeconds,
} from '../../../src/state/unchanged.js';

const W = Date.parse('2025-03-01T12:00:00Z') / 1000;
const base = { lastRun: true, fullRefresh: false, watermark: W } as const;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', '+0000');

describe('parseStorageTimestampSeconds', () => {
  it('reads the Storage forms with their offsets, whole seconds', () => {
    expect(parseStorageTimestampSeconds('2025-03-01T13:00:00+0100')).toBe(W);
    expect(parseStorageTimestampSeconds('2025-03-01T13:00:00+01:00')).toBe(W);
    expect(parseStorageTimestampSeconds('2025-03-01T07:30:00-0430')).toBe(W);
    expect(parseStorageTimestampSeconds('2025-03-01T12:00:00Z')).toBe(W);
    expect(parseStorageTimestampSeconds('2025-03-01 12:00:00+0000')).toBe(W);
  });

  it('refuses anything else (which means: export)', () => {
    for (const bad of [
      null,
      undefined,
      '',
      'yesterday',
      '2025-03-01T12:00:00',
      '2025-03-01T12:00:00.500+0000',
      '2025-02-30T12:00:00+0000',
      '2025-13-01T12:00:00+0000',
      '2025-03-01T24:00:00+0000',
      '2025-03-01T12:00:00+1500',
    ]) {
      expect(parseStorageTimestampSeconds(bad)).toBeUndefined();
    }
  });
});

describe('decideSkip', () => {
  it('skips a lastRun table last changed before the watermark and its margin', () => {
    const last = W - CLOCK_SKEW_MARGIN_SECONDS - 1;
    expect(decideSkip({ ...base, lastChangeDate: iso(last) })).toEqual({
      skip: true,
      lastChangeSeconds: last,
    });
    expect(decideSkip({ ...base, lastChangeDate: iso(W - 86_400) }).skip).toBe(true);
  });

  it('exports a change in the watermark second, after it, or within the margin before it', () => {
    for (const last of [W, W + 1, W - 1, W - CLOCK_SKEW_MARGIN_SECONDS]) {
      expect(decideSkip({ ...base, lastChangeDate: iso(last) }).skip).toBe(false);
    }
  });

  it('exports when lastChangeDate is missing or unreadable', () => {
    expect(decideSkip({ ...base, lastChangeDate: null })).toMatchObject({ skip: false });
    expect(decideSkip({ ...base, lastChangeDate: undefined })).toMatchObject({ skip: false });
    expect(decideSkip({ ...base, lastChangeDate: 'soon' })).toMatchObject({ skip: false });
  });

  it('exports without a watermark, on --full-refresh, and for tables that are not lastRun', () => {
    const old = iso(W - 86_400);
    expect(decideSkip({ ...base, watermark: undefined, lastChangeDate: old }).skip).toBe(false);
    expect(decideSkip({ ...base, watermark: Number.NaN, lastChangeDate: old }).skip).toBe(false);
    expect(decideSkip({ ...base, fullRefresh: true, lastChangeDate: old }).skip).toBe(false);
    expect(decideSkip({ ...base, lastRun: false, lastChangeDate: old }).skip).toBe(false);
  });
});
