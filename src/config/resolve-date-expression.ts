/**
 * A {@link DateExpression} at a given instant, as PHP's `strtotime` computes it in the UTC zone
 * (docs/configuration.md, changedSince), with one deliberate difference: months move before the
 * days, and a day the target month lacks becomes its last day (31 March − 1 month = 28 February,
 * where PHP runs over into 3 March), so the window is never narrower than PHP's. Pure; UTC has no daylight saving, so a
 * day is always 86 400 s.
 */
import type { CalendarDate, DateExpression, WeekdayMove } from './date-expression.js';

const SECONDS_PER_DAY = 86_400;
/** 1 January 1970 was a Thursday. */
const EPOCH_WEEKDAY = 4;

/**
 * The unix seconds `expression` stands for at `nowSeconds` (the Storage server's clock), in the
 * order PHP applies the parts: the date and time of day (the text's, or now's), the weekday
 * phrase, the months, the days (or `first`/`last day of`), the seconds, and the business days.
 * May be negative or later than now; the caller decides what to do with that.
 */
export function resolveDateExpression(expression: DateExpression, nowSeconds: number): number {
  const today = Math.floor(nowSeconds / SECONDS_PER_DAY);
  let day = expression.date ? dayNumber(expression.date) : today;
  if (expression.weekday)
    day += weekdayMoveDays(weekdayOf(day), expression.weekday, expression.days);
  day = moveMonthsAndDays(day, expression);
  const timeOfDay = expression.timeOfDaySeconds ?? nowSeconds - today * SECONDS_PER_DAY;
  const instant = day * SECONDS_PER_DAY + timeOfDay + expression.seconds;
  return expression.weekdays === undefined ? instant : moveWeekdays(instant, expression.weekdays);
}

/** Days since 1970-01-01 of a calendar date; day and month may run over (32 January = 1 February). */
function dayNumber({ year, month, day }: CalendarDate): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return Math.round(date.getTime() / 1000 / SECONDS_PER_DAY);
}

function calendarDate(day: number): CalendarDate {
  const date = new Date(day * SECONDS_PER_DAY * 1000);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
}

/** 0 Sunday … 6 Saturday. */
function weekdayOf(day: number): number {
  return (((day + EPOCH_WEEKDAY) % 7) + 7) % 7;
}

function daysInMonth(year: number, month: number): number {
  return calendarDate(dayNumber({ year, month: month + 1, day: 0 })).day;
}

/**
 * Days from a day of weekday `today` to the phrase's weekday, as PHP counts them: a `… week`
 * phrase takes that weekday of the Monday-to-Sunday week; otherwise the next such weekday, today
 * included, except after `next` (behavior 0 with no days going back). `last` finds the same day
 * as a bare weekday; its days part (−7) then moves it a week back.
 */
function weekdayMoveDays(today: number, move: WeekdayMove, daysPart: number): number {
  if (move.behavior === 2) {
    const target = move.day === 0 ? 7 : move.day;
    return (today === 0 ? target - 7 : target) - today;
  }
  const difference = move.day - today;
  const forward = daysPart < 0 ? difference < 0 : difference <= -move.behavior;
  return forward ? difference + 7 : difference;
}

/**
 * The day after the months (clamped to the target month's last day) and then the days part, or
 * the first or last day of the target month for `first day of` / `last day of` (which drop the
 * days part, as in PHP).
 */
function moveMonthsAndDays(day: number, expression: DateExpression): number {
  const from = calendarDate(day);
  const monthIndex = from.year * 12 + from.month - 1 + expression.months;
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12 + 1;
  const lastDay = daysInMonth(year, month);
  if (expression.dayOfMonth === 'first') return dayNumber({ year, month, day: 1 });
  if (expression.dayOfMonth === 'last') return dayNumber({ year, month, day: lastDay });
  return dayNumber({ year, month, day: Math.min(from.day, lastDay) }) + expression.days;
}

/**
 * `N weekdays` from `instant`, keeping its time of day: Monday to Friday count, a weekend is
 * stepped over, and a start on a weekend counts from the Friday before or the Monday after, as
 * PHP's timelib does (whole weeks of 5 first, then the rest).
 */
function moveWeekdays(instant: number, count: number): number {
  const day = Math.floor(instant / SECONDS_PER_DAY);
  const timeOfDay = instant - day * SECONDS_PER_DAY;
  return (day + weekdaysMoveDays(weekdayOf(day), count)) * SECONDS_PER_DAY + timeOfDay;
}

function weekdaysMoveDays(weekday: number, count: number): number {
  const rest = count % 5;
  const weeks = Math.trunc(count / 5) * 7;
  return (
    weeks + rest + (count > 0 ? weekendStepForward(weekday, rest) : weekendStepBack(weekday, rest))
  );
}

function weekendStepForward(weekday: number, rest: number): number {
  if (rest === 0) return weekday === 0 ? -2 : weekday === 6 ? -1 : 0;
  if (weekday === 6) return 1;
  return weekday + rest > 5 ? 2 : 0;
}

function weekendStepBack(weekday: number, rest: number): number {
  if (rest === 0) return weekday === 6 ? 2 : weekday === 0 ? 1 : 0;
  if (weekday === 0) return -1;
  return weekday + rest < 1 ? -2 : 0;
}
