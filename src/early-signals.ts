/**
 * Handlers for SIGTERM and SIGINT from the first moment the job's code runs: `src/main.ts`
 * imports this module first, so the bundle evaluates it before any other module of the job or its
 * dependencies (scripts/build-job.mjs keeps the order of imports). Until the bootstrap in main.ts
 * installs its own handlers, a signal is only recorded, and the bootstrap then treats it as a stop
 * before any work ({@link takeEarlySignal}).
 *
 * Why: with no handler a signal has its default action. In a container whose entrypoint is node
 * itself (the image's exec-form ENTRYPOINT), node is PID 1, and the kernel drops a default-action
 * signal to PID 1: a SIGTERM while Node evaluated the bundle's modules was lost and the run went
 * on (docs/faults.md, Interrupted runs). Outside a container it ended the process without a word
 * (exit 143).
 *
 * Besides main.ts, the one module that touches `process` (eslint.config.js): it must run before
 * main.ts's own code, which runs only after every module it imports.
 */

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * Whether this process runs the job as its entry point (`node dist/main.js`, or the npm bin, a
 * symlink: real paths are compared), not a test or a tool that imports it.
 */
export const isEntryPoint =
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;

let earlySignal: NodeJS.Signals | undefined;

const record = (signal: NodeJS.Signals): void => {
  earlySignal ??= signal;
};

// Only the process that runs the job: a test that imports main.ts keeps its signals.
if (isEntryPoint) {
  process.on('SIGTERM', record);
  process.on('SIGINT', record);
}

/**
 * Removes the recording handlers and returns the first signal they recorded, if any. Call it once
 * the real handlers are installed, so that there is never a moment without one.
 */
export function takeEarlySignal(): NodeJS.Signals | undefined {
  process.off('SIGTERM', record);
  process.off('SIGINT', record);
  return earlySignal;
}
