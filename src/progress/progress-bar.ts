import { Writable } from 'node:stream';
import { spanSeconds, type TableProgress } from '../transfer/progress.js';

const BAR_CELLS = 20;
/** ESC [ n F: cursor to the start of the line n lines up; ESC [ J: clear to the end of screen. */
const up = (lines: number) => (lines > 0 ? `\x1b[${lines}F\x1b[J` : '');

/** Fraction done of a table: by bytes when the export size is known, else by slices. */
export function fractionDone(p: TableProgress): number {
  if (p.phase === 'done' || p.phase === 'unchanged') return 1;
  if (p.bytesTotal !== undefined && p.bytesTotal > 0) return Math.min(1, p.bytes / p.bytesTotal);
  return p.slicesTotal > 0 ? Math.min(1, p.slicesDone / p.slicesTotal) : 0;
}

/**
 * The lines of the interactive progress view (pure): one per active table, then one for the run.
 * Each line is cut to `width` characters so that none wraps (the view counts lines to redraw),
 * after `mask` has hidden the secrets in it: a cut secret would no longer be recognised.
 */
export function renderProgressBar(
  progresses: readonly TableProgress[],
  nowMs: number,
  width: number,
  mask: (text: string) => string = (text) => text,
): string[] {
  const lines = progresses.filter((p) => p.active).map((p) => mask(tableBar(p, nowMs)));
  lines.push(runLine(progresses, nowMs));
  return lines.map((line) => (line.length > width ? line.slice(0, Math.max(0, width)) : line));
}

/**
 * The run's line: tables done (only those that were copied), unchanged (skipped as unchanged),
 * skipped (held by another run), failed, and, once the run is over, those that never finished;
 * the moved megabytes, the rate, the seconds and an ETA when every unfinished table's size is
 * known.
 */
function runLine(progresses: readonly TableProgress[], nowMs: number, final = false): string {
  const count = (phase: TableProgress['phase']) =>
    progresses.filter((p) => p.phase === phase).length;
  const done = count('done');
  const ended = {
    unchanged: count('unchanged'),
    skipped: count('skipped'),
    failed: count('failed'),
  };
  const unfinished = progresses.length - done - ended.unchanged - ended.skipped - ended.failed;
  const bytes = progresses.reduce((sum, p) => sum + p.bytes, 0);
  const seconds = spanSeconds(progresses, nowMs);
  const rate = seconds > 0 ? bytes / seconds : 0;
  const parts = [`tables ${done}/${progresses.length} done`];
  for (const [word, n] of Object.entries(ended)) if (n > 0) parts.push(`${n} ${word}`);
  if (final && unfinished > 0) parts.push(`${unfinished} not finished`);
  parts.push(
    `${(bytes / 1e6).toFixed(1)} MB`,
    `${(rate / 1e6).toFixed(1)} MB/s`,
    `${seconds.toFixed(0)} s`,
  );
  const pending = progresses.filter((p) => p.finishedAtMs === undefined);
  const eta = final ? undefined : etaSeconds(pending, rate);
  if (eta !== undefined) parts.push(`ETA ${formatSeconds(eta)}`);
  return parts.join(', ');
}

/** Seconds left at `bytesPerSecond`, or undefined when a size is unknown or nothing moved yet. */
function etaSeconds(pending: readonly TableProgress[], bytesPerSecond: number): number | undefined {
  if (bytesPerSecond <= 0 || pending.length === 0) return undefined;
  let remaining = 0;
  for (const p of pending) {
    if (p.bytesTotal === undefined) return undefined;
    remaining += Math.max(0, p.bytesTotal - p.bytes);
  }
  return remaining / bytesPerSecond;
}

/** `45 s`, `3 min 20 s`, `2 h 05 min`. */
export function formatSeconds(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** The last frame of a run that ended: only the run line, with what never finished counted. */
function renderFinalFrame(
  progresses: readonly TableProgress[],
  nowMs: number,
  width: number,
): string[] {
  const line = runLine(progresses, nowMs, true);
  return [line.length > width ? line.slice(0, Math.max(0, width)) : line];
}

function tableBar(p: TableProgress, nowMs: number): string {
  const fraction = fractionDone(p);
  const filled = Math.round(fraction * BAR_CELLS);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_CELLS - filled)}]`;
  const seconds = p.elapsedSeconds(nowMs);
  const rate = seconds > 0 ? p.bytes / 1e6 / seconds : 0;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const eta = etaSeconds([p], seconds > 0 ? p.bytes / seconds : 0);
  const etaText = eta !== undefined && p.phase === 'transfer' ? `  ETA ${formatSeconds(eta)}` : '';
  return `${bar} ${percent} ${p.table}  ${p.phase}  ${p.slicesDone}/${p.slicesTotal} slices  ${(p.bytes / 1e6).toFixed(1)} MB  ${rate.toFixed(1)} MB/s  ${seconds.toFixed(0)} s${etaText}`;
}

/** What the reporter draws on; see {@link TtyProgressView}. */
export interface ProgressView {
  update(progresses: readonly TableProgress[], nowMs: number): void;
  /**
   * Ends the view: the live bars give way to one final frame that stays on the screen (what was
   * done, what failed, what never finished), so an interrupted run does not look complete.
   */
  stop(progresses: readonly TableProgress[], nowMs: number): void;
}

/**
 * The interactive progress bar on a terminal. The logger writes through {@link output}, which
 * lifts the bar, writes the log text and draws the bar again below it, so log lines and the bar
 * never overwrite each other, and each log line is on the screen once. Nothing of the bar goes
 * into the log. The bar names tables, so it passes through `mask` (the secret masker) like every
 * other output; the log text arrives masked already.
 */
/** The width of a terminal that does not say how wide it is. */
const DEFAULT_COLUMNS = 100;

export class TtyProgressView implements ProgressView {
  #lines: string[] = [];
  #stopped = false;

  constructor(
    private readonly tty: NodeJS.WritableStream & { columns?: number },
    private readonly mask: (text: string) => string,
  ) {}

  /** A stream for the logger: every write lands above the bar. */
  readonly output: Writable = new Writable({
    decodeStrings: false,
    write: (chunk: string | Buffer, _encoding, callback) => {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      this.tty.write(`${up(this.#lines.length)}${text}${this.#drawn()}`);
      callback();
    },
  });

  update(progresses: readonly TableProgress[], nowMs: number): void {
    if (this.#stopped) return;
    const previous = this.#lines.length;
    this.#lines = renderProgressBar(progresses, nowMs, this.#widthChars(), this.mask);
    this.tty.write(`${up(previous)}${this.#drawn()}`);
  }

  stop(progresses: readonly TableProgress[], nowMs: number): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const final = renderFinalFrame(progresses, nowMs, this.#widthChars());
    // The final frame is ordinary text now: later log lines go below it.
    this.tty.write(`${up(this.#lines.length)}${final.map((line) => `${line}\n`).join('')}`);
    this.#lines = [];
  }

  /**
   * The width to draw in: one less than the terminal's columns, so a full line never wraps. A
   * terminal that reports 0 columns (a pseudo-terminal without a size, as `script` or
   * `docker run -t` in CI give) does not know its width: it is taken as 100, like one that
   * reports none.
   */
  #widthChars(): number {
    const columns = this.tty.columns;
    return (columns !== undefined && columns > 0 ? columns : DEFAULT_COLUMNS) - 1;
  }

  #drawn(): string {
    return this.#lines.map((line) => `${line}\n`).join('');
  }
}
