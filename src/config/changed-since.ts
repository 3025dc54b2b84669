/**
 * `changedSince` (docs/configuration.md, changedSince): parse every form an ex-storage user may have
 * configured, and resolve it to unix seconds at the moment the export starts. ex-storage passed
 * the value unchanged to the table export, and the Storage server read it (unix seconds or a PHP
 * `strtotime` form); the export now documents unix seconds only, so the job reads those forms
 * itself, as `strtotime` does in UTC, against the Storage server's clock. Pure: the clock is
 * passed in.
 *
 * Accepted forms:
 * - unix seconds: a number, a numeric string (`1740787200`) or `@1740787200`;
 * - ISO-8601 date (`2025-03-01`, 00:00 UTC) or date-time (`2025-03-01T10:00:00Z`,
 *   `2025-03-01 10:00`, `...+01:00`, `...+0100`); without an offset the time is UTC;
 * - `strtotime` expressions (date-expression.ts): `-1 day`, `2 weeks ago`, `yesterday noon`,
 *   `today -1 day`, `last monday`, `monday last week`, `first day of last month`, `-2 weekdays`,
 *   `2024/01/15`, `01/15/2024`, `15.01.2024`, `Jan 15 2024`, a trailing `UTC`;
 * - `lastRun`: the saved watermark, resolved by the caller;
 * - `""`, `null` or absent: no filter.
 * An expression that names a date is fixed at once; the others stay relative until the export.
 */
import { parseDateExpression, type DateExpression } from './date-expression.js';
import { resolveDateExpression } from './resolve-date-expression.js';
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
/** Relative expressions may reach this far; more is a typo, not a window. */
const MAX_MONTHS = 1_200;
const MAX_SECONDS = 100 * 366 * SECONDS_PER_DAY;
const MAX_TEXT_LENGTH = 200;
/**
 * The instants an expression is tried at to tell whether it always lies in the future: the start,
 * middle and last second of every day of 2023 and 2024 (every weekday, month length and a leap
 * day).
 */
const PROBE_FIRST_DAY = Date.UTC(2023, 0, 1) / 1000 / SECONDS_PER_DAY;
const PROBE_DAYS = 731;
const PROBE_TIMES_OF_DAY_SECONDS = [0, 43_200, SECONDS_PER_DAY - 1];

const CHANGED_SINCE_FORMS =
  'use unix seconds, an ISO-8601 date (2025-03-01 or 2025-03-01T10:00:00Z), ' +
  'an expression such as "-1 day", "yesterday 00:00" or "monday last week", or "lastRun" ' +
  '(all forms: docs/configuration.md, changedSince)';

/**
 * Parses a configured `changedSince`. Never throws. `value: undefined` means "no filter".
 * Expressions that depend on the clock stay unresolved, so the instant is taken when the export
 * starts; one that lies in the future whatever the day and hour is refused here.
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
 * The unix seconds a parsed `changedSince` stands for at `nowMs` (milliseconds since the epoch,
 * the Storage server's clock), as PHP's `strtotime` computes it in UTC, except that months stop at
 * the end of a shorter month (resolve-date-expression.ts). Never below 0.
 * Throws a plain Error for `lastRun`, which only the caller can resolve from the saved state.
 */
export function resolveChangedSince(changedSince: ChangedSince, nowMs: number): number {
  switch (changedSince.kind) {
    case 'absolute':
      return changedSince.unixSeconds;
    case 'relative':
      return Math.max(0, resolveDateExpression(changedSince.expression, Math.floor(nowMs / 1000)));
    case 'lastRun':
      throw new Error(
        'changedSince "lastRun" cannot be resolved here: use the saved watermark of the table',
      );
  }
}

/** `"text"` as JSON, cut to 60 characters. */
function defaultQuote(text: string): string {
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
  if (/^\d{1,15}(\.\d+)?$/.test(lower)) return parseUnixSeconds(Number(lower), text);
  if (/^@\d{1,15}$/.test(lower)) return parseUnixSeconds(Number(lower.slice(1)), text);
  const iso = parseIsoDate(lower);
  if (iso) return iso;
  const expression = parseDateExpression(lower);
  return expression && expressionResult(expression, text, quote);
}

function parseUnixSeconds(seconds: number, text: string): ChangedSinceResult {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return fail(
      `${text} is not a valid unix timestamp; for a relative window write an expression such as "-1 day"`,
    );
  }
  if (seconds >= MAX_UNIX_SECONDS * 1000) {
    return fail(`${text} is too large to be a unix timestamp; give unix seconds`);
  }
  if (seconds >= MAX_UNIX_SECONDS) {
    return fail(
      `${text} looks like milliseconds; give unix seconds (${Math.floor(seconds / 1000)})`,
    );
  }
  return { ok: true, value: { kind: 'absolute', unixSeconds: Math.floor(seconds) } };
}

/**
 * An ISO-8601 date or date-time. The zone of a date-time is `z`, an offset, or the zone word `utc`
 * or `gmt` (accepted and ignored, as after any other form: docs/configuration.md, changedSince); a
 * date alone with a zone word is read by the expression grammar.
 */
const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)? ?(z|utc|gmt|[+-]\d{2}(?::?\d{2})?)?)?$/;

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

/**
 * Minutes east of UTC for `z`, `utc`, `gmt`, `+01`, `+0100`, `+01:00`; 0 when absent; undefined
 * when invalid.
 */
function parseOffsetMinutes(offset: string | undefined): number | undefined {
  if (offset === undefined || offset === 'z' || offset === 'utc' || offset === 'gmt') return 0;
  const digits = offset.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || '0');
  if (hours > 14 || minutes >= 60) return undefined;
  return (offset.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
}

/**
 * A `strtotime` expression: refused when it moves more than 100 years; fixed at once when it
 * names a date; otherwise kept relative, unless it lies in the future at every moment.
 */
function expressionResult(
  expression: DateExpression,
  text: string,
  quote: Quote,
): ChangedSinceResult {
  const future = `${quote(text)} lies in the future, so nothing would be copied; write a past window such as "-1 day" or "1 day ago"`;
  if (reachesTooFar(expression)) {
    return fail(
      netSeconds(expression) > 0
        ? future
        : `${quote(text)} reaches more than 100 years back; leave changedSince empty to copy all rows`,
    );
  }
  if (expression.date !== undefined) {
    const unixSeconds = Math.max(0, resolveDateExpression(expression, 0));
    return { ok: true, value: { kind: 'absolute', unixSeconds } };
  }
  if (alwaysInFuture(expression)) return fail(future);
  return { ok: true, value: { kind: 'relative', expression, text } };
}

function reachesTooFar(expression: DateExpression): boolean {
  const weekdaysSeconds = (Math.abs(expression.weekdays ?? 0) * 7 * SECONDS_PER_DAY) / 5;
  return (
    Math.abs(expression.months) > MAX_MONTHS ||
    Math.abs(expression.days * SECONDS_PER_DAY + expression.seconds) + weekdaysSeconds > MAX_SECONDS
  );
}

/** The direction of the moves, months taken as 30 days (only its sign is used). */
function netSeconds(expression: DateExpression): number {
  const days = expression.months * 30 + expression.days + (expression.weekdays ?? 0);
  return days * SECONDS_PER_DAY + expression.seconds;
}

/** Whether the expression lies after the clock at every probe instant (see PROBE_DAYS). */
function alwaysInFuture(expression: DateExpression): boolean {
  for (let day = PROBE_FIRST_DAY; day < PROBE_FIRST_DAY + PROBE_DAYS; day += 1) {
    for (const timeOfDay of PROBE_TIMES_OF_DAY_SECONDS) {
      const nowSeconds = day * SECONDS_PER_DAY + timeOfDay;
      if (resolveDateExpression(expression, nowSeconds) <= nowSeconds) return false;
    }
  }
  return true;
}
