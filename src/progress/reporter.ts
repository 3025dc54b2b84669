import type { Logger } from '../logger.js';
import type { TableProgress } from '../transfer/progress.js';
import type { ProgressView } from './progress-bar.js';
import { formatProgressLine } from './progress-line.js';

/** How often the interactive view is redrawn. */
const VIEW_REFRESH_MS = 250;

export interface ProgressReporterOptions {
  readonly progresses: readonly TableProgress[];
  readonly logger: Pick<Logger, 'info'>;
  readonly nowMs: () => number;
  /** Progress lines of every active table this often. */
  readonly intervalMs: number;
  /** The interactive bar (stdout is a terminal); absent otherwise. */
  readonly view?: ProgressView | undefined;
}

export interface ProgressReporter {
  /** Logs the final progress line of a table that just finished (done or failed). */
  tableFinished(progress: TableProgress): void;
  /** Stops the timers and removes the bar. */
  stop(): void;
}

/**
 * Logs one {@link formatProgressLine} per active table every `intervalMs` (only without a view),
 * and one when each table finishes; redraws the interactive view (when given) every
 * {@link VIEW_REFRESH_MS}.
 */
export function startProgressReporter(options: ProgressReporterOptions): ProgressReporter {
  const { progresses, logger, nowMs, view } = options;
  const timers: NodeJS.Timeout[] = [];
  if (view) {
    // On a terminal the bar shows the progress; periodic lines would only repeat it.
    timers.push(setInterval(() => view.update(progresses, nowMs()), VIEW_REFRESH_MS));
  } else {
    timers.push(
      setInterval(() => {
        for (const p of progresses) if (p.active) logger.info(formatProgressLine(p, nowMs()));
      }, options.intervalMs),
    );
  }
  for (const timer of timers) timer.unref();
  return {
    tableFinished(progress) {
      logger.info(formatProgressLine(progress, nowMs()));
      view?.update(progresses, nowMs());
    },
    stop() {
      for (const timer of timers) clearInterval(timer);
      view?.stop(progresses, nowMs());
    },
  };
}
