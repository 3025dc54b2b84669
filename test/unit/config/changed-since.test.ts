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
    ['ISO date-time, T and a zone word', '2025-03-01T10:00:00 UTC', utc(2025, 3, 1, 10)],
    ['ISO date-time, T and GMT', '2025-03-01T10:00 GMT', utc(2025, 3, 1, 10)],
    ['ISO date-time, T, fractions and UTC', '2025-03-01T10:00:00.5UTC', utc(2025, 3, 1, 10)],
    ['ISO date-time, a space and UTC', '2025-03-01 10:00:00 UTC', utc(2025, 3, 1, 10)],
    ['ISO date and UTC', '2025-03-01 UTC', utc(2025, 3, 1)],
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
    ['yesterday 00:00', 'yesterday 00:00', utc(2025, 3, 30)],
    ['yesterday noon', 'yesterday noon', utc(2025, 3, 30, 12)],
    ['noon yesterday (PHP: the later word resets the time)', 'noon yesterday', utc(2025, 3, 30)],
    ['today -1 day', 'today -1 day', utc(2025, 3, 30)],
    ['-1 month midnight', '-1 month midnight', utc(2025, 2, 28)],
    ['last monday (today is a Monday)', 'last monday', utc(2025, 3, 24)],
    ['monday last week', 'monday last week', utc(2025, 3, 24)],
    ['last week (its Monday, at the time of now)', 'last week', utc(2025, 3, 24, 12, 30, 45)],
    ['first day of last month', 'first day of last month', utc(2025, 2, 1, 12, 30, 45)],
    ['-2 weekdays (Monday → Thursday)', '-2 weekdays', utc(2025, 3, 27, 12, 30, 45)],
    ['@unix seconds', '@1700000000', 1_700_000_000],
    ['2024/01/15', '2024/01/15', utc(2024, 1, 15)],
    ['01/15/2024 (month first)', '01/15/2024', utc(2024, 1, 15)],
    ['15.01.2024 (day first)', '15.01.2024', utc(2024, 1, 15)],
    ['15-01-2024 (day first)', '15-01-2024', utc(2024, 1, 15)],
    ['Jan 15 2024', 'Jan 15 2024', utc(2024, 1, 15)],
    ['15 January 2024', '15 January 2024', utc(2024, 1, 15)],
    ['January 15, 2024', 'January 15, 2024', utc(2024, 1, 15)],
    ['a zone word', '2024-01-15 10:00:00 UTC', utc(2024, 1, 15, 10)],
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
    [
      '-1 day',
      { kind: 'relative', expression: { months: 0, days: -1, seconds: 0 }, text: '-1 day' },
    ],
    [
      '-3 months',
      { kind: 'relative', expression: { months: -3, days: 0, seconds: 0 }, text: '-3 months' },
    ],
    [
      'yesterday noon',
      {
        kind: 'relative',
        expression: { months: 0, days: -1, seconds: 0, timeOfDaySeconds: 43_200 },
        text: 'yesterday noon',
      },
    ],
    [
      'monday last week',
      {
        kind: 'relative',
        expression: {
          months: 0,
          days: -7,
          seconds: 0,
          timeOfDaySeconds: 0,
          weekday: { day: 1, behavior: 2 },
        },
        text: 'monday last week',
      },
    ],
  ])('keeps %j unresolved until the export starts', (value, expected) => {
    expect(parseChangedSince(value)).toEqual({ ok: true, value: expected });
  });

  it.each<[unknown, number]>([
    ['2025-03-01', utc(2025, 3, 1)],
    ['@1700000000', 1_700_000_000],
    ['Jan 1 2024 10:00', utc(2024, 1, 1, 10)],
    ['2024-01-01 -1 day', utc(2023, 12, 31)],
  ])('fixes %j at once: it names a date', (value, unixSeconds) => {
    expect(parseChangedSince(value)).toEqual({
      ok: true,
      value: { kind: 'absolute', unixSeconds },
    });
  });

  it('keeps a form that is in the future only on some days; the run refuses it then (cursor.ts)', () => {
    const monday = parseChangedSince('monday');
    expect(monday.ok && monday.value?.kind).toBe('relative');
    if (!monday.ok || monday.value === undefined) return;
    const tuesdayMs = Date.UTC(2025, 3, 1, 9);
    expect(resolveChangedSince(monday.value, tuesdayMs)).toBe(utc(2025, 4, 7));
    expect(resolveChangedSince(monday.value, NOW_MS)).toBe(utc(2025, 3, 31));
  });

  it.each<[string, unknown, string]>([
    ['an unknown unit', '-1 eon', '"-1 eon" is not a date; use unix seconds, an ISO-8601 date'],
    ['words', 'tuesday-ish', 'is not a date'],
    ['a weekday that is no word', 'tues', 'is not a date'],
    ['a date without a year', 'Jan 1', 'is not a date'],
    ['an impossible day-first date', '31.02.2024', 'is not a date'],
    ['a month 13', '13/01/2024', 'is not a date'],
    ['two times (PHP: false)', 'noon 10:00', 'is not a date'],
    ['two dates (PHP: false)', '2024-01-01 2024-01-02', 'is not a date'],
    ['two zones (PHP: false)', 'yesterday utc gmt', 'is not a date'],
    ['an offset and a zone word', '2025-03-01T10:00:00+01:00 UTC', 'is not a date'],
    ['an hour 25', 'yesterday 25:00', 'is not a date'],
    ['an offset after an expression', 'yesterday +01:00', 'is not a date'],
    ['ago after a weekday phrase', 'last monday ago', 'is not a date'],
    ['ordinals', 'second monday of last month', 'is not a date'],
    ['first day of a week phrase', 'first day of last week', 'is not a date'],
    ['last day of with a weekday', 'last day of monday', 'is not a date'],
    ['@ milliseconds', '@1740787200000', 'looks like milliseconds'],
    ['tomorrow', 'tomorrow', '"tomorrow" lies in the future'],
    ['next monday', 'next monday', 'lies in the future'],
    ['first day of next month', 'first day of next month', 'lies in the future'],
    ['+1 weekday', '+1 weekday', 'lies in the future'],
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
    [
      'a number beyond milliseconds',
      1e308,
      '1e+308 is too large to be a unix timestamp; give unix',
    ],
    ['digits beyond milliseconds', '999999999999999', 'is too large to be a unix timestamp'],
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
        '"-1 eon" is not a date; use unix seconds, an ISO-8601 date (2025-03-01 or 2025-03-01T10:00:00Z), an expression such as "-1 day", "yesterday 00:00" or "monday last week", or "lastRun" (all forms: docs/configuration.md, changedSince)',
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
    const longAgo = parseChangedSince('-99 years');
    if (!longAgo.ok || longAgo.value === undefined) throw new Error('expected -99 years to parse');
    expect(resolveChangedSince(longAgo.value, 0)).toBe(0);
    const yesterday = parseChangedSince('yesterday');
    if (!yesterday.ok || yesterday.value === undefined) throw new Error('expected yesterday');
    expect(resolveChangedSince(yesterday.value, 0)).toBe(0);
  });
});
