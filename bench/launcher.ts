/**
 * The benchmark's launcher: a small process that starts each measured command and measures it
 * (bench/measure.ts, startLauncher says why). It answers each request on its IPC channel and ends
 * when the channel closes, killing a command still running.
 */
import { killMeasured, measureHere, type LaunchAnswer, type LaunchRequest } from './measure.js';

function answer(message: LaunchAnswer): void {
  process.send?.(message);
}

process.on('message', (request: LaunchRequest) => {
  measureHere(request.command, request.args, request.options).then(
    (measured) => answer({ id: request.id, measured }),
    (error: unknown) =>
      answer({ id: request.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
// The benchmark ended or was stopped: a command still running is of no use to anyone.
process.on('disconnect', () => {
  killMeasured();
  process.exit(0);
});
