/**
 * `changedSince` (docs/configuration.md, changedSince): parse every form an ex-storage user may have configured, and resolve
 * it to unix seconds at the moment the export starts. Pure: the clock is passed in.
 *
 * Accepted forms:
 * - unix seconds: a number or a numeric string (`1740787200`);
 * - ISO-8601 date (`2025-03-01`, 00:00 UTC) or date-time (`2025-03-01T10:00:00Z`,
 *   `2025-03-01 10:00`, `...+01:00`, `...+0100`); without an offset the time is UTC;
 * - relative expressions as PHP `strtotime` reads them: `-1 day`, `-36 hours`, `2 weeks ago`,
 *   `-1 day -2 hours`, `last month`, units `sec(ond)`, `min(ute)`, `hour`, `day`, `week`,
 *   `fortnight`, `month`, `year` in singular or plural (months and years on the UTC calendar);
 * - `now`, `today` / `midnight` (start of today, UTC), `yesterday` (start of yesterday, UTC);
 * - `lastRun`: the saved watermark, resolved by the caller;
 * - `""`, `null` or absent: no filter.
 */
import type { ChangedSince } from './types.js';

export type ChangedSinceResult =
  | { readonly ok: true; readonly value: ChangedSince | undefined }
  /** `message` has no path prefix: `"-1 eon" is not a date; use ...`. */
  | { readonly ok: false; readonly message: string };

/** How a value the user wrote is shown in a message (the caller may hide secrets). */
export type Quote = (text: string) => string;

const SECONDS_PER_DAY = 86_400;
/** Larger values are taken for milliseconds by mistake (they lie after the year 5000). */
const MAX_UNIX_SECONDS = 100_000_000_000;
/** Relative expressions may reach this far back; more is a typo, not a window. */
const MAX_MONTHS_AGO = 1_200;
const MAX_SECONDS_AGO = 100 * 366 * SECONDS_PER_DAY;
const MAX_TEXT_LENGTH = 200;

export const CHANGED_SINCE_FORMS =
  'use unix seconds, an ISO-8601 date (2025-03-01 or 2025-03-01T10:00:00Z), ' +
  'an expression such as "-1 day", "-36 hours" or "2 weeks ago", "yesterday", or "lastRun"';

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  sec: 1,
  second: 1,
  min: 60,
  minute: 60,
  hour: 3_600,
  day: SECONDS_PER_DAY,
  week: 7 * SECONDS_PER_DAY,
  fortnight: 14 * SECONDS_PER_DAY,
  forthnight: 14 * SECONDS_PER_DAY,
};
const UNIT_MONTHS: Readonly<Record<string, number>> = { month: 1, year: 12 };

/**
 * Parses a configured `changedSince`. Never throws. `value: undefined` means "no filter".
 * Relative and calendar forms stay unresolved, so the instant is taken when the export starts.
 */
export function parseChangedSince(value: unknown, quote: Quote = defaultQuote): ChangedSinceResult {
  if (value === undefined || value === null || value === '') return { ok: true, value: undefined };
  if (typeof value === 'number') return parseUnixSeconds(value, String(value));
  if (typeof value !== 'string') {
    return fail(
      `must be a string or a number, not ${describeJsonType(value)}; ${CHANGED_SINCE_FORMS}`,
    );
  }
  const text = value.trim().replace(/\s+/g, ' ');
  if (text === '') return { ok: true, value: undefined };
  const parsed = text.length <= MAX_TEXT_LENGTH ? parseText(text, quote) : undefined;
  return parsed ?? fail(`${quote(value)} is not a date; ${CHANGED_SINCE_FORMS}`);
}

/**
 * The unix seconds a parsed `changedSince` stands for at `nowMs` (milliseconds since the epoch).
 * Months and years move on the UTC calendar, clamping the day (31 March − 1 month = 28/29
 * February, a slightly wider window than PHP's overflow into March). Never below 0.
 * Throws a plain Error for `lastRun`, which only the caller can resolve from the saved state.
 */
export function resolveChangedSince(changedSince: ChangedSince, nowMs: number): number {
  switch (changedSince.kind) {
    case 'absolute':
      return changedSince.unixSeconds;
    case 'relative': {
      const shiftedMs = subtractMonthsUtc(nowMs, changedSince.monthsAgo ?? 0);
      return Math.max(0, Math.floor(shiftedMs / 1000) - changedSince.secondsAgo);
    }
    case 'calendar': {
      const startOfTodayMs = Math.floor(nowMs / (SECONDS_PER_DAY * 1000)) * SECONDS_PER_DAY * 1000;
      return Math.max(0, startOfTodayMs / 1000 - changedSince.daysAgo * SECONDS_PER_DAY);
    }
    case 'lastRun':
      throw new Error(
        'changedSince "lastRun" cannot be resolved here: use the saved watermark of the table',
      );
  }
}

/** `"text"` as JSON, cut to 60 characters. */
export function defaultQuote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}

/** `a string`, `a number`, `true`, `null`, `a list`, `an object`: for "must be X, not Y" messages. */
export function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

function fail(message: string): ChangedSinceResult {
  return { ok: false, message };
}

function parseText(text: string, quote: Quote): ChangedSinceResult | undefined {
  const lower = text.toLowerCase();
  if (lower === 'lastrun') return { ok: true, value: { kind: 'lastRun' } };
  if (lower === 'now') return { ok: true, value: { kind: 'relative', secondsAgo: 0, text } };
  if (lower === 'today' || lower === 'midnight') {
    return { ok: true, value: { kind: 'calendar', daysAgo: 0, text } };
  }
  if (lower === 'yesterday') return { ok: true, value: { kind: 'calendar', daysAgo: 1, text } };
  if (/^\d{1,15}(\.\d+)?$/.test(lower)) return parseUnixSeconds(Number(lower), text);
  return parseIsoDate(lower) ?? parseRelative(lower, text, quote);
}

function parseUnixSeconds(seconds: number, text: string): ChangedSinceResult {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return fail(
      `${text} is not a valid unix timestamp; for a relative window write an expression such as "-1 day"`,
    );
  }
  if (seconds >= MAX_UNIX_SECONDS) {
    return fail(
      `${text} looks like milliseconds; give unix seconds (${Math.floor(seconds / 1000)})`,
    );
  }
  return { ok: true, value: { kind: 'absolute', unixSeconds: Math.floor(seconds) } };
}

const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)? ?(z|[+-]\d{2}(?::?\d{2})?)?)?$/;

function parseIsoDate(lower: string): ChangedSinceResult | undefined {
  const match = ISO_PATTERN.exec(lower);
  if (!match) return undefined;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = match
    .slice(1, 7)
    .map((part) => Number(part ?? 0));
  const offsetMinutes = parseOffsetMinutes(match[8]);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  const valid =
    offsetMinutes !== undefined &&
    back.getUTCFullYear() === year &&
    back.getUTCMonth() === month - 1 &&
    back.getUTCDate() === day &&
    hour < 24 &&
    minute < 60 &&
    second < 60;
  if (!valid) return undefined;
  const unixSeconds = Math.max(0, Math.floor(ms / 1000) - offsetMinutes * 60);
  return { ok: true, value: { kind: 'absolute', unixSeconds } };
}

/** Minutes east of UTC for `z`, `+01`, `+0100`, `+01:00`; 0 when absent; undefined when invalid. */
function parseOffsetMinutes(offset: string | undefined): number | undefined {
  if (offset === undefined || offset === 'z') return 0;
  const digits = offset.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || '0');
  if (hours > 14 || minutes >= 60) return undefined;
  return (offset.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
}

const RELATIVE_ITEM =
  /\s*(?:([+-]?)\s*(\d{1,9})\s*([a-z]+)|(last)\s+([a-z]+)|(ago))(?=\s|$|[+-]|\d)/y;

/** `strtotime`-style relative items: `[+-]N unit`, `last unit`, and `ago` (negates what precedes). */
function parseRelative(lower: string, text: string, quote: Quote): ChangedSinceResult | undefined {
  let months = 0;
  let seconds = 0;
  let items = 0;
  RELATIVE_ITEM.lastIndex = 0;
  while (RELATIVE_ITEM.lastIndex < lower.length) {
    const match = RELATIVE_ITEM.exec(lower);
    if (!match) return undefined;
    if (match[6] !== undefined) {
      if (items === 0) return undefined;
      months = 0 - months;
      seconds = 0 - seconds;
      continue;
    }
    const amount = match[4] ? -1 : (match[1] === '-' ? -1 : 1) * Number(match[2]);
    const unit = singular(match[3] ?? match[5] ?? '');
    const unitSeconds = UNIT_SECONDS[unit];
    const unitMonths = UNIT_MONTHS[unit];
    if (unitSeconds !== undefined) seconds += amount * unitSeconds;
    else if (unitMonths !== undefined) months += amount * unitMonths;
    else return undefined;
    items += 1;
  }
  return items === 0 ? undefined : relativeResult(0 - months, 0 - seconds, text, quote);
}

function singular(unit: string): string {
  if (unit === 'secs' || unit === 'mins') return unit.slice(0, -1);
  return unit.endsWith('s') && unit.length > 3 ? unit.slice(0, -1) : unit;
}

function relativeResult(
  monthsAgo: number,
  secondsAgo: number,
  text: string,
  quote: Quote,
): ChangedSinceResult {
  const soonestSecondsAgo = secondsAgo + monthsAgo * (monthsAgo >= 0 ? 28 : 31) * SECONDS_PER_DAY;
  if (soonestSecondsAgo < 0) {
    return fail(
      `${quote(text)} lies in the future, so nothing would be copied; write a past window such as "-1 day" or "1 day ago"`,
    );
  }
  if (Math.abs(monthsAgo) > MAX_MONTHS_AGO || Math.abs(secondsAgo) > MAX_SECONDS_AGO) {
    return fail(
      `${quote(text)} reaches more than 100 years back; leave changedSince empty to copy all rows`,
    );
  }
  const value: ChangedSince =
    monthsAgo === 0
      ? { kind: 'relative', secondsAgo, text }
      : { kind: 'relative', secondsAgo, monthsAgo, text };
  return { ok: true, value };
}

function subtractMonthsUtc(nowMs: number, monthsAgo: number): number {
  if (monthsAgo === 0) return nowMs;
  const now = new Date(nowMs);
  const monthIndex = now.getUTCFullYear() * 12 + now.getUTCMonth() - monthsAgo;
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(
    year,
    month,
    Math.min(now.getUTCDate(), lastDay),
    now.getUTCHours(),
    now.getUTCMinutes(),
    now.getUTCSeconds(),
    now.getUTCMilliseconds(),
  );
}
