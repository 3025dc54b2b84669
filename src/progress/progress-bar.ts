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
 * Each line is cut to `width` characters so that none wraps (the view counts lines to redraw).
 */
export function renderProgressBar(
  progresses: readonly TableProgress[],
  nowMs: number,
  width: number,
): string[] {
  const lines = progresses.filter((p) => p.active).map((p) => tableBar(p, nowMs));
  const done = progresses.filter((p) => p.finishedAtMs !== undefined).length;
  const bytes = progresses.reduce((sum, p) => sum + p.bytes, 0);
  const seconds = spanSeconds(progresses, nowMs);
  const rate = seconds > 0 ? bytes / 1e6 / seconds : 0;
  lines.push(
    `tables ${done}/${progresses.length} done, ${(bytes / 1e6).toFixed(1)} MB, ${rate.toFixed(1)} MB/s, ${seconds.toFixed(0)} s`,
  );
  return lines.map((line) => (line.length > width ? line.slice(0, Math.max(0, width)) : line));
}

function tableBar(p: TableProgress, nowMs: number): string {
  const fraction = fractionDone(p);
  const filled = Math.round(fraction * BAR_CELLS);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_CELLS - filled)}]`;
  const seconds = p.elapsedSeconds(nowMs);
  const rate = seconds > 0 ? p.bytes / 1e6 / seconds : 0;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${bar} ${percent} ${p.table}  ${p.phase}  ${p.slicesDone}/${p.slicesTotal} slices  ${(p.bytes / 1e6).toFixed(1)} MB  ${rate.toFixed(1)} MB/s  ${seconds.toFixed(0)} s`;
}

/** What the reporter draws on; see {@link TtyProgressView}. */
export interface ProgressView {
  update(progresses: readonly TableProgress[], nowMs: number): void;
  /** Removes the view from the screen. */
  stop(): void;
}

/**
 * The interactive progress bar on a terminal. The logger writes through {@link output}, which
 * lifts the bar, writes the log text and draws the bar again below it, so log lines and the bar
 * never overwrite each other. Nothing of the bar goes into the log.
 */
export class TtyProgressView implements ProgressView {
  #lines: string[] = [];
  #stopped = false;

  constructor(private readonly tty: NodeJS.WritableStream & { columns?: number }) {}

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
    this.#lines = renderProgressBar(progresses, nowMs, (this.tty.columns ?? 100) - 1);
    this.tty.write(`${up(previous)}${this.#drawn()}`);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.tty.write(up(this.#lines.length));
    this.#lines = [];
  }

  #drawn(): string {
    return this.#lines.map((line) => `${line}\n`).join('');
  }
}
