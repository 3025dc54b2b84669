import { describe, expect, it } from 'vitest';
import { parseChangedSince, resolveChangedSince } from '../../../src/config/changed-since.js';
import type { ChangedSince } from '../../../src/config/types.js';

/** 2025-03-31T12:30:45.678Z: a month end, so month arithmetic has to clamp. */
const NOW_MS = Date.UTC(2025, 2, 31, 12, 30, 45, 678);
const NOW_S = Math.floor(NOW_MS / 1000);
const DAY = 86_400;
const utc = (...parts: [number, number, number, number?, number?, number?]): number =>
  Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3] ?? 0, parts[4] ?? 0, parts[5] ?? 0) / 1000;

function resolved(value: unknown): number {
  const result = parseChangedSince(value);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(value)} to parse: ${result.message}`);
  if (result.value === undefined) throw new Error(`expected a filter for ${JSON.stringify(value)}`);
  return resolveChangedSince(result.value, NOW_MS);
}

describe('parseChangedSince + resolveChangedSince', () => {
  it.each<[string, unknown, number]>([
    ['unix seconds (number)', 1_740_787_200, 1_740_787_200],
    ['unix seconds (fraction)', 1_740_787_200.9, 1_740_787_200],
    ['unix seconds (string)', '1740787200', 1_740_787_200],
    ['zero', 0, 0],
    ['ISO date', '2025-03-01', utc(2025, 3, 1)],
    ['ISO date-time Z', '2025-03-01T10:00:00Z', utc(2025, 3, 1, 10)],
    ['ISO date-time lower case', '2025-03-01t10:00:00z', utc(2025, 3, 1, 10)],
    ['ISO date-time without offset (UTC)', '2025-03-01T10:00:00', utc(2025, 3, 1, 10)],
    ['ISO date-time with a space', '2025-03-01 10:00', utc(2025, 3, 1, 10)],
    ['ISO with fractions', '2025-03-01T10:00:00.999Z', utc(2025, 3, 1, 10)],
    ['ISO +01:00', '2025-03-01T10:00:00+01:00', utc(2025, 3, 1, 9)],
    ['ISO +0100 (Storage API style)', '2025-03-01T10:00:00+0100', utc(2025, 3, 1, 9)],
    ['ISO -05', '2025-03-01T10:00:00-05', utc(2025, 3, 1, 15)],
    ['-1 day', '-1 day', NOW_S - DAY],
    ['-36 hours', '-36 hours', NOW_S - 36 * 3600],
    ['-15 minutes', '-15 minutes', NOW_S - 15 * 60],
    ['-15 min', '-15 min', NOW_S - 15 * 60],
    ['-30 secs', '-30 secs', NOW_S - 30],
    ['-5 second', '-5 second', NOW_S - 5],
    ['-2 weeks', '-2 weeks', NOW_S - 14 * DAY],
    ['-1 week', '-1 week', NOW_S - 7 * DAY],
    ['-1 fortnight (strtotime knows it)', '-1 fortnight', NOW_S - 14 * DAY],
    ['-2 days, plural', '-2 days', NOW_S - 2 * DAY],
    ['-1 days, odd plural', '-1 days', NOW_S - DAY],
    ['no space', '-1day', NOW_S - DAY],
    ['upper case and spaces', '  -1   DAY ', NOW_S - DAY],
    ['1 day ago', '1 day ago', NOW_S - DAY],
    ['2 days 3 hours ago', '2 days 3 hours ago', NOW_S - 2 * DAY - 3 * 3600],
    ['-1 day -2 hours', '-1 day -2 hours', NOW_S - DAY - 2 * 3600],
    ['-1 day +2 hours', '-1 day +2 hours', NOW_S - DAY + 2 * 3600],
    ['last day', 'last day', NOW_S - DAY],
    ['-3 months (clamped to 31 Dec)', '-3 months', utc(2024, 12, 31, 12, 30, 45)],
    ['-1 month (31 Mar → 28 Feb)', '-1 month', utc(2025, 2, 28, 12, 30, 45)],
    ['last month', 'last month', utc(2025, 2, 28, 12, 30, 45)],
    ['-13 months', '-13 months', utc(2024, 2, 29, 12, 30, 45)],
    ['-1 year', '-1 year', utc(2024, 3, 31, 12, 30, 45)],
    ['1 year ago', '1 year ago', utc(2024, 3, 31, 12, 30, 45)],
    ['-1 month -1 day', '-1 month -1 day', utc(2025, 2, 27, 12, 30, 45)],
    ['now', 'now', NOW_S],
    ['today', 'today', utc(2025, 3, 31)],
    ['midnight', 'midnight', utc(2025, 3, 31)],
    ['yesterday', 'yesterday', utc(2025, 3, 30)],
    ['Yesterday', 'Yesterday', utc(2025, 3, 30)],
  ])('%s', (_name, value, expected) => {
    expect(resolved(value)).toBe(expected);
  });

  it.each<[unknown]>([[undefined], [null], [''], ['   ']])('%j means no filter', (value) => {
    expect(parseChangedSince(value)).toEqual({ ok: true, value: undefined });
  });

  it.each<[unknown, ChangedSince]>([
    ['lastRun', { kind: 'lastRun' }],
    ['lastrun', { kind: 'lastRun' }],
    ['-1 day', { kind: 'relative', secondsAgo: DAY, text: '-1 day' }],
    ['-3 months', { kind: 'relative', secondsAgo: 0, monthsAgo: 3, text: '-3 months' }],
    ['yesterday', { kind: 'calendar', daysAgo: 1, text: 'yesterday' }],
    ['2025-03-01', { kind: 'absolute', unixSeconds: utc(2025, 3, 1) }],
  ])('keeps %j unresolved until the export starts', (value, expected) => {
    expect(parseChangedSince(value)).toEqual({ ok: true, value: expected });
  });

  it.each<[string, unknown, string]>([
    ['an unknown unit', '-1 eon', '"-1 eon" is not a date; use unix seconds, an ISO-8601 date'],
    ['words', 'last tuesday', 'is not a date'],
    ['a lone number with unit missing', '-5', 'is not a date'],
    ['an impossible date', '2025-02-30', '"2025-02-30" is not a date'],
    ['an impossible hour', '2025-02-01T25:00:00Z', 'is not a date'],
    ['a bad offset', '2025-02-01T10:00:00+15:00', 'is not a date'],
    ['a decimal amount', '-1.5 days', 'is not a date'],
    ['ago alone', 'ago', 'is not a date'],
    ['a boolean', true, 'must be a string or a number, not true'],
    ['an object', { days: 1 }, 'must be a string or a number, not an object'],
    ['a negative number', -86_400, 'not a valid unix timestamp; for a relative window'],
    ['milliseconds', 1_740_787_200_000, 'looks like milliseconds; give unix seconds (1740787200)'],
    ['the future', '+1 day', '"+1 day" lies in the future'],
    ['an unsigned amount (strtotime: future)', '1 day', 'lies in the future'],
    ['too far back', '-200 years', 'reaches more than 100 years back'],
    ['a very long text', `-1 day ${'x'.repeat(500)}`, 'is not a date'],
  ])('rejects %s with a sentence naming the accepted forms', (_name, value, message) => {
    const result = parseChangedSince(value);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.message).toContain(message);
  });

  it('names every accepted form in the message', () => {
    const result = parseChangedSince('-1 eon');
    expect(result).toEqual({
      ok: false,
      message:
        '"-1 eon" is not a date; use unix seconds, an ISO-8601 date (2025-03-01 or 2025-03-01T10:00:00Z), an expression such as "-1 day", "-36 hours" or "2 weeks ago", "yesterday", or "lastRun"',
    });
  });

  it('uses the quote function the caller gives', () => {
    const result = parseChangedSince('-1 eon', () => 'a hidden value');
    expect(result.ok ? '' : result.message).toMatch(/^a hidden value is not a date/);
  });

  it('refuses to resolve lastRun', () => {
    expect(() => resolveChangedSince({ kind: 'lastRun' }, NOW_MS)).toThrow(/saved watermark/);
  });

  it('never resolves below 0', () => {
    expect(
      resolveChangedSince({ kind: 'relative', secondsAgo: 99 * 365 * DAY, text: 'x' }, 0),
    ).toBe(0);
    expect(resolveChangedSince({ kind: 'calendar', daysAgo: 1, text: 'yesterday' }, 0)).toBe(0);
  });
});
