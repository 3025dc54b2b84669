/**
 * The `strtotime` grammar of `changedSince` (docs/configuration.md, changedSince): a text such as
 * `yesterday noon`, `monday last week`, `first day of last month` or `Jan 1 2024` read into the
 * parts PHP's parser sets, item by item and in any order, as PHP does. Pure; resolve-date-expression.ts
 * turns the parts into an instant.
 */

/** A calendar date on the UTC calendar; `month` 1–12. */
export interface CalendarDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

/** A weekday phrase: move to `day` (0 Sunday … 6 Saturday) before the other items apply. */
export interface WeekdayMove {
  readonly day: number;
  /**
   * How PHP picks the week: 0 after `last`/`next`/`previous` (`next` skips today; `last` goes a
   * week back through the days part), 1 for a bare weekday or `this` (today counts), 2 for
   * `… week` (that weekday of the Monday-to-Sunday week).
   */
  readonly behavior: 0 | 1 | 2;
}

/** What a `strtotime` text says, before it meets a clock. Signs as written: `days: -1` is back. */
export interface DateExpression {
  /** A date the text names; absent: the server's today. */
  readonly date?: CalendarDate;
  /**
   * Seconds after 00:00 the text sets (`10:00`, `noon`; `today`, `yesterday` and weekday words
   * set 0); absent: the time of day of the server's now.
   */
  readonly timeOfDaySeconds?: number;
  /** Calendar months to move (a year is 12). */
  readonly months: number;
  /** Days to move (a week is 7); a weekday phrase also reads its sign. */
  readonly days: number;
  readonly seconds: number;
  readonly weekday?: WeekdayMove;
  /** Business days (Monday–Friday) to move, after everything else. */
  readonly weekdays?: number;
  /** `first day of` / `last day of`: the day of the month after the months moved. */
  readonly dayOfMonth?: 'first' | 'last';
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** The parts while the items are read, with PHP's flags of what was said already. */
interface Draft {
  readonly parts: Writable<DateExpression>;
  /** A time of day was given (`10:00`, `noon`) and not reset since: another one is an error. */
  timeGiven: boolean;
  zoneGiven: boolean;
  items: number;
}

/** One item of the grammar: its pattern (sticky, at the current position) and what it sets. */
interface Rule {
  readonly pattern: RegExp;
  /** False when the item is malformed or repeats what may be said once (PHP: "not a date"). */
  readonly apply: (match: RegExpExecArray, draft: Draft) => boolean;
}

/** What follows a word: the end, a space or comma, or the sign of the next item. */
const END = '(?=$|[\\s,+-])';
/** After `N unit` a digit may follow at once (`-1day-2hours`, as PHP reads it). */
const NUMBER_END = '(?=$|[\\s,+-]|\\d)';

const WEEKDAYS: Readonly<Record<string, number>> = {
  sunday: 0,
  sun: 0,
  monday: 1,
  mon: 1,
  tuesday: 2,
  tue: 2,
  wednesday: 3,
  wed: 3,
  thursday: 4,
  thu: 4,
  friday: 5,
  fri: 5,
  saturday: 6,
  sat: 6,
};
const MONTHS: Readonly<Record<string, number>> = {
  january: 1,
  jan: 1,
  february: 2,
  feb: 2,
  march: 3,
  mar: 3,
  april: 4,
  apr: 4,
  may: 5,
  june: 6,
  jun: 6,
  july: 7,
  jul: 7,
  august: 8,
  aug: 8,
  september: 9,
  sept: 9,
  sep: 9,
  october: 10,
  oct: 10,
  november: 11,
  nov: 11,
  december: 12,
  dec: 12,
};
/** A unit: what one of it moves. `weekdays` counts business days. */
type Unit =
  | { readonly part: 'seconds' | 'days' | 'months'; readonly size: number }
  | { readonly part: 'weekdays' };
const UNITS: Readonly<Record<string, Unit>> = {
  sec: { part: 'seconds', size: 1 },
  second: { part: 'seconds', size: 1 },
  min: { part: 'seconds', size: 60 },
  minute: { part: 'seconds', size: 60 },
  hour: { part: 'seconds', size: 3_600 },
  day: { part: 'days', size: 1 },
  week: { part: 'days', size: 7 },
  fortnight: { part: 'days', size: 14 },
  forthnight: { part: 'days', size: 14 },
  month: { part: 'months', size: 1 },
  year: { part: 'months', size: 12 },
  weekday: { part: 'weekdays' },
};
/** `last`, `this`, `next` … before a unit or a weekday: the amount PHP gives them. */
const RELATIVE_WORDS: Readonly<Record<string, number>> = {
  last: -1,
  previous: -1,
  this: 0,
  next: 1,
};

const alternatives = (words: Readonly<Record<string, unknown>>): string =>
  Object.keys(words)
    .sort((a, b) => b.length - a.length)
    .join('|');
const WEEKDAY = `(${alternatives(WEEKDAYS)})`;
const MONTH = `(${alternatives(MONTHS)})\\.?`;
const UNIT = `(${Object.keys(UNITS)
  .map((unit) => `${unit}s?`)
  .join('|')})`;
const ORDINAL = '(?:st|nd|rd|th)?';

const sticky = (source: string): RegExp => new RegExp(source, 'y');

/** The items, tried in this order at each position (dates before numbers, phrases before words). */
const RULES: readonly Rule[] = [
  { pattern: sticky(`(first|last) day of${END}`), apply: setDayOfMonth },
  {
    pattern: sticky(`(\\d{4})([-/])(\\d{1,2})\\2(\\d{1,2})${END}`),
    apply: (m, d) => setDate(d, m[1], m[3], m[4]),
  },
  {
    pattern: sticky(`(\\d{1,2})/(\\d{1,2})/(\\d{4})${END}`),
    apply: (m, d) => setDate(d, m[3], m[1], m[2]),
  },
  {
    pattern: sticky(`(\\d{1,2})([.-])(\\d{1,2})\\2(\\d{4})${END}`),
    apply: (m, d) => setDate(d, m[4], m[3], m[1]),
  },
  {
    pattern: sticky(`${MONTH} ?(\\d{1,2})${ORDINAL},? ?(\\d{4})${END}`),
    apply: (m, d) => setDate(d, m[3], monthNumber(m[1]), m[2]),
  },
  {
    pattern: sticky(`(\\d{1,2})${ORDINAL} ?${MONTH},? ?(\\d{4})${END}`),
    apply: (m, d) => setDate(d, m[3], monthNumber(m[2]), m[1]),
  },
  {
    pattern: sticky(`${MONTH},? ?(\\d{4})${END}`),
    apply: (m, d) => setDate(d, m[2], monthNumber(m[1]), '1'),
  },
  { pattern: sticky(`(\\d{1,2}):(\\d{2})(?::(\\d{2}))?${END}`), apply: setTimeOfDay },
  { pattern: sticky(`(now|today|midnight|noon|tomorrow|yesterday)${END}`), apply: applyKeyword },
  { pattern: sticky(`(utc|gmt|z)${END}`), apply: setZone },
  { pattern: sticky(`ago${END}`), apply: (_m, d) => applyAgo(d) },
  {
    pattern: sticky(`(last|previous|this|next) (?:(week)|${UNIT}|${WEEKDAY})${END}`),
    apply: applyRelativeWord,
  },
  {
    pattern: sticky(`([+-]?) ?(\\d{1,9}) ?${UNIT}${NUMBER_END}`),
    apply: (m, d) => moveBy(d, (m[1] === '-' ? -1 : 1) * Number(m[2]), m[3] ?? '', true),
  },
  { pattern: sticky(`${WEEKDAY}${END}`), apply: (m, d) => setWeekday(d, m[1] ?? '') },
];

/**
 * Reads `lower` (lower case, single spaces) as `strtotime` items; undefined when some part is not
 * one of them, when a date, a time or a zone is given twice, when `ago` has nothing to turn, or
 * when `first/last day of` meets a weekday or week phrase, which PHP orders in a way this reader
 * does not follow (it would give a later instant than PHP, a narrower window).
 */
export function parseDateExpression(lower: string): DateExpression | undefined {
  const draft: Draft = {
    parts: { months: 0, days: 0, seconds: 0 },
    timeGiven: false,
    zoneGiven: false,
    items: 0,
  };
  let position = skipSeparators(lower, 0);
  while (position < lower.length) {
    const end = readItem(lower, position, draft);
    if (end === undefined) return undefined;
    draft.items += 1;
    position = skipSeparators(lower, end);
  }
  if (draft.parts.dayOfMonth !== undefined && draft.parts.weekday !== undefined) return undefined;
  return draft.items === 0 ? undefined : finish(draft.parts);
}

/** The position after the item at `position`, or undefined when none fits or it is malformed. */
function readItem(text: string, position: number, draft: Draft): number | undefined {
  for (const rule of RULES) {
    rule.pattern.lastIndex = position;
    const match = rule.pattern.exec(text);
    if (match) return rule.apply(match, draft) ? rule.pattern.lastIndex : undefined;
  }
  return undefined;
}

function skipSeparators(text: string, position: number): number {
  let next = position;
  while (next < text.length && (text[next] === ' ' || text[next] === ',')) next += 1;
  return next;
}

/** A date without a time of day means its 00:00, as in PHP. */
function finish(parts: DateExpression): DateExpression {
  if (parts.date === undefined || parts.timeOfDaySeconds !== undefined) return parts;
  return { ...parts, timeOfDaySeconds: 0 };
}

/** PHP's "unset the time": back to 00:00, and a time given later is no longer a second one. */
function resetTime(draft: Draft): void {
  draft.parts.timeOfDaySeconds = 0;
  draft.timeGiven = false;
}

function setDayOfMonth(match: RegExpExecArray, draft: Draft): boolean {
  draft.parts.dayOfMonth = match[1] === 'first' ? 'first' : 'last';
  return true;
}

function setDate(
  draft: Draft,
  year: string | undefined,
  month: string | number | undefined,
  day: string | undefined,
): boolean {
  const date = { year: Number(year), month: Number(month), day: Number(day) };
  if (draft.parts.date !== undefined || !isCalendarDate(date)) return false;
  draft.parts.date = date;
  return true;
}

/** Whether the date exists (no 30 February: PHP would roll it over, the job refuses it). */
function isCalendarDate({ year, month, day }: CalendarDate): boolean {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return (
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
  );
}

function monthNumber(name: string | undefined): number {
  return MONTHS[name ?? ''] ?? 0;
}

/** `HH:MM[:SS]`, hours up to 24 (`24:00` is the next day's 00:00, as in PHP). */
function setTimeOfDay(match: RegExpExecArray, draft: Draft): boolean {
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  const seconds = Number(match[3] ?? 0);
  if (draft.timeGiven || hours > 24 || minutes > 59 || seconds > 59) return false;
  draft.timeGiven = true;
  draft.parts.timeOfDaySeconds = hours * 3_600 + minutes * 60 + seconds;
  return true;
}

function applyKeyword(match: RegExpExecArray, draft: Draft): boolean {
  const word = match[1];
  if (word === 'now') return true;
  resetTime(draft);
  if (word === 'noon') {
    draft.parts.timeOfDaySeconds = 12 * 3_600;
    draft.timeGiven = true;
  }
  // PHP sets (not adds) the day: "-1 day yesterday" is yesterday, "yesterday -1 day" two days back.
  if (word === 'yesterday') draft.parts.days = -1;
  if (word === 'tomorrow') draft.parts.days = 1;
  return true;
}

function setZone(_match: RegExpExecArray, draft: Draft): boolean {
  if (draft.zoneGiven) return false;
  draft.zoneGiven = true;
  return true;
}

/** `ago` turns every move read so far. A weekday phrase before it is not supported. */
function applyAgo(draft: Draft): boolean {
  const { parts } = draft;
  if (draft.items === 0 || parts.weekday !== undefined) return false;
  parts.months = 0 - parts.months;
  parts.days = 0 - parts.days;
  parts.seconds = 0 - parts.seconds;
  if (parts.weekdays !== undefined) parts.weekdays = 0 - parts.weekdays;
  return true;
}

/** `last month`, `next friday`, `this week`: PHP's amount of the word, then the unit or weekday. */
function applyRelativeWord(match: RegExpExecArray, draft: Draft): boolean {
  const word = match[1] ?? '';
  const amount = RELATIVE_WORDS[word] ?? 0;
  if (match[2] !== undefined) return moveWeeks(draft, amount);
  if (match[3] !== undefined) return moveBy(draft, amount, match[3], false);
  resetTime(draft);
  draft.parts.days += (amount > 0 ? amount - 1 : amount) * 7;
  draft.parts.weekday = { day: WEEKDAYS[match[4] ?? ''] ?? 0, behavior: word === 'this' ? 1 : 0 };
  return true;
}

/** `last week`, `this week`: the weeks, and that week's Monday unless a weekday is named. */
function moveWeeks(draft: Draft, amount: number): boolean {
  draft.parts.days += amount * 7;
  draft.parts.weekday = { day: draft.parts.weekday?.day ?? 1, behavior: 2 };
  return true;
}

/**
 * `N unit`: adds to the part the unit moves. Business days are set, not added, as in PHP; after
 * `last`/`next` (`keepTime` false) they also reset the time to 00:00.
 */
function moveBy(draft: Draft, amount: number, unitWord: string, keepTime: boolean): boolean {
  const unit = UNITS[unitWord.endsWith('s') ? unitWord.slice(0, -1) : unitWord];
  if (unit === undefined) return false;
  if (unit.part === 'weekdays') {
    if (!keepTime) resetTime(draft);
    draft.parts.weekdays = amount;
  } else {
    draft.parts[unit.part] += amount * unit.size;
  }
  return true;
}

/** A bare weekday: that day this week or later (today counts); `… week` keeps its own reading. */
function setWeekday(draft: Draft, name: string): boolean {
  const day = WEEKDAYS[name];
  if (day === undefined) return false;
  resetTime(draft);
  draft.parts.weekday = { day, behavior: draft.parts.weekday?.behavior === 2 ? 2 : 1 };
  return true;
}
