import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import {
  TtyProgressView,
  fractionDone,
  renderProgressBar,
} from '../../../src/progress/progress-bar.js';
import { TableProgress } from '../../../src/transfer/progress.js';

function table(name: string, at = 0): TableProgress {
  const p = new TableProgress(name, `out/tables/${name}.csv`, () => at);
  p.start(at);
  return p;
}

describe('renderProgressBar', () => {
  it('draws one bar per active table and a run line', () => {
    const a = table('in.c-s.a');
    a.phase = 'transfer';
    a.slicesTotal = 4;
    a.slicesDone = 1;
    a.bytes = 50_000_000;
    a.bytesTotal = 100_000_000;
    const b = table('in.c-s.b');
    b.finish(1_000, 'done');
    const queued = new TableProgress('in.c-s.c', 'x');
    const lines = renderProgressBar([a, b, queued], 10_000, 200);
    expect(lines).toEqual([
      '[##########..........]  50% in.c-s.a  transfer  1/4 slices  50.0 MB  5.0 MB/s  10 s',
      'tables 1/3 done, 50.0 MB, 5.0 MB/s, 10 s',
    ]);
  });

  it('cuts lines to the terminal width so none wraps', () => {
    const a = table('in.c-s.a-table-with-a-very-long-name');
    for (const line of renderProgressBar([a], 1_000, 30))
      expect(line.length).toBeLessThanOrEqual(30);
  });

  it('measures done by bytes when the size is known, else by slices', () => {
    const p = table('t');
    p.slicesTotal = 10;
    p.slicesDone = 5;
    expect(fractionDone(p)).toBe(0.5);
    p.bytesTotal = 1_000;
    p.bytes = 250;
    expect(fractionDone(p)).toBe(0.25);
    p.finish(1, 'done');
    expect(fractionDone(p)).toBe(1);
  });
});

describe('TtyProgressView', () => {
  it('keeps log lines above the bar and removes the bar when stopped', () => {
    const tty = Object.assign(new PassThrough(), { columns: 80 });
    let screen = '';
    tty.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    const view = new TtyProgressView(tty);
    const p = table('in.c-s.a');
    view.update([p], 1_000);
    view.output.write('a log line\n');
    view.stop();
    // Redraw: up 2 lines + clear, the log line, then the 2 bar lines again; stop lifts them.
    expect(screen).toContain('\x1b[2F\x1b[Ja log line\n[');
    expect(screen.endsWith('\x1b[2F\x1b[J')).toBe(true);
    expect(screen.match(/tables 0\/1 done/g)?.length).toBe(2);
  });
});
