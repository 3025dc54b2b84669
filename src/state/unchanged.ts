/**
 * Whether a `changedSince: "lastRun"` table can skip its export because nothing changed since its
 * watermark (pure). The reasoning and its limits are in docs/performance.md ("Skipping unchanged
 * tables"): both instants come from the Storage server's clock, `lastChangeDate` has whole
 * seconds, and any doubt means export.
 */

/**
 * Seconds of disagreement tolerated between the Storage node that answered the `Date` header the
 * watermark came from and the one that stamped `lastChangeDate`. A table changed within this
 * margin before the watermark is exported again: the cost is one export job, never a lost row.
 */
export const CLOCK_SKEW_MARGIN_SECONDS = 60;

export type SkipDecision =
  | { readonly skip: true; readonly lastChangeSeconds: number }
  | { readonly skip: false; readonly reason: string };

export interface SkipInput {
  /** `lastChangeDate` of the source table as the API answered it (`null` when absent). */
  readonly lastChangeDate: string | null | undefined;
  /** The saved watermark: unix seconds, the previous export's upper bound (server clock). */
  readonly watermark: number | undefined;
  /** Only `lastRun` tables have a watermark to compare with. */
  readonly lastRun: boolean;
  /** `--full-refresh` always exports. */
  readonly fullRefresh: boolean;
}

/** What {@link skipInputOf} reads of a planned table. */
interface PlannedForSkip {
  readonly source: { readonly lastChangeDate?: string | null | undefined };
  readonly changedSince?: { readonly kind: string } | undefined;
  readonly fullRefresh: boolean;
}

/** The skip question for one planned table and its saved watermark (a run and `plan` alike). */
export function skipInputOf(plan: PlannedForSkip, watermark: number | undefined): SkipInput {
  return {
    lastChangeDate: plan.source.lastChangeDate,
    watermark,
    lastRun: plan.changedSince?.kind === 'lastRun',
    fullRefresh: plan.fullRefresh,
  };
}

/**
 * Skips only when the table's last change is a whole second strictly before the watermark minus
 * {@link CLOCK_SKEW_MARGIN_SECONDS}. A change in the watermark's own second may carry rows with
 * `_timestamp` ≥ the watermark, which the previous export (bounded by `changedUntil` = watermark)
 * did not read, so equality exports.
 */
export function decideSkip(input: SkipInput): SkipDecision {
  if (!input.lastRun) return { skip: false, reason: 'no lastRun watermark' };
  if (input.fullRefresh) return { skip: false, reason: 'full refresh' };
  const watermark = input.watermark;
  if (watermark === undefined || !Number.isFinite(watermark))
    return { skip: false, reason: 'no saved watermark' };
  const lastChangeSeconds = parseStorageTimestampSeconds(input.lastChangeDate);
  if (lastChangeSeconds === undefined)
    return { skip: false, reason: 'lastChangeDate missing or unreadable' };
  if (lastChangeSeconds < watermark - CLOCK_SKEW_MARGIN_SECONDS)
    return { skip: true, lastChangeSeconds };
  return { skip: false, reason: 'changed since the watermark' };
}

/**
 * Storage timestamps look like `2024-07-07T11:25:34+0200`: whole seconds with a numeric offset
 * (`+02:00` and `Z` are accepted too). Anything else, fractions of a second included, is
 * `undefined`, which means "export".
 */
const STORAGE_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:Z|([+-])(\d{2}):?(\d{2}))$/;

export function parseStorageTimestampSeconds(value: string | null | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = STORAGE_TIMESTAMP.exec(value.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
    return undefined;
  const utcMs = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(utcMs);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined;
  const offsetMinutes =
    m[7] === undefined ? 0 : (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
  if (Math.abs(offsetMinutes) > 14 * 60) return undefined;
  return utcMs / 1000 - offsetMinutes * 60;
}
