import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import {
  TtyProgressView,
  formatSeconds,
  fractionDone,
  renderProgressBar,
} from '../../../src/progress/progress-bar.js';
import { FakeTerminal } from '../../helpers/fake-terminal.js';
import { SecretMasker } from '../../../src/secrets.js';
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
      '[##########..........]  50% in.c-s.a  transfer  1/4 slices  50.0 MB  5.0 MB/s  10 s  ETA 10 s',
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
  it('draws table names through the masker, before it cuts a line to the width', () => {
    const part = 'ca11ab1eca11ab1e00000000000000000000000b';
    const masker = new SecretMasker();
    masker.add(`4242-67319-${part}`);
    const terminal = new FakeTerminal(60);
    const view = new TtyProgressView(terminal, (text) => masker.mask(text));
    const p = table(`in.c-s.t_${part}`);
    p.phase = 'transfer';
    view.update([p], 1_000);
    const screen = terminal.screen().join('\n');
    expect(screen).toContain('in.c-s.t_[hidden]  transfer');
    expect(screen).not.toContain(part.slice(0, 12));
  });

  it('keeps log lines above the bar and leaves one final frame when stopped', () => {
    const tty = Object.assign(new PassThrough(), { columns: 80 });
    let screen = '';
    tty.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    const view = new TtyProgressView(tty, (text) => text);
    const p = table('in.c-s.a');
    view.update([p], 1_000);
    view.output.write('a log line\n');
    view.stop([p], 2_000);
    // Redraw: up 2 lines + clear, the log line, then the 2 bar lines again; stop replaces them.
    expect(screen).toContain('\x1b[2F\x1b[Ja log line\n[');
    expect(
      screen.endsWith('\x1b[2F\x1b[Jtables 0/1 done, 1 not finished, 0.0 MB, 0.0 MB/s, 2 s\n'),
    ).toBe(true);
  });

  it('counts tables skipped as unchanged, or held by another run, as ended, not as not finished', () => {
    const tty = Object.assign(new PassThrough(), { columns: 100 });
    let screen = '';
    tty.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    const view = new TtyProgressView(tty, (text) => text);
    const [a, b, c] = ['in.c-s.a', 'in.c-s.b', 'in.c-s.c'].map((name) => table(name));
    a!.finish(1_500, 'unchanged');
    b!.finish(1_500, 'unchanged');
    c!.finish(1_500, 'skipped');
    view.update([a!, b!, c!], 1_500);
    view.stop([a!, b!, c!], 2_000);
    expect(
      screen.endsWith('tables 0/3 done, 2 unchanged, 1 skipped, 0.0 MB, 0.0 MB/s, 2 s\n'),
    ).toBe(true);
  });

  it('draws 100 columns wide on a terminal that reports 0 columns (its width unknown)', () => {
    const tty = Object.assign(new PassThrough(), { columns: 0 });
    let screen = '';
    tty.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    const view = new TtyProgressView(tty, (text) => text);
    const p = table('in.c-s.a');
    p.phase = 'transfer';
    view.update([p], 1_000);
    expect(screen).toContain('in.c-s.a  transfer');
    view.stop([p], 2_000);
    expect(screen).toContain('tables 0/1 done, 1 not finished, 0.0 MB, 0.0 MB/s, 2 s\n');
  });

  it('a warning during a run is on the screen once, with no stale frame left behind', () => {
    const terminal = new FakeTerminal(120);
    const view = new TtyProgressView(terminal, (text) => text);
    const [a, b, c] = ['in.c-s.a', 'in.c-s.b', 'in.c-s.c'].map((name) => table(name));
    const all = [a!, b!, c!];
    for (const p of all) {
      p.phase = 'transfer';
      p.bytesTotal = 10_000_000;
    }
    const frames = 12;
    for (let i = 1; i <= frames; i++) {
      for (const p of all) p.bytes = Math.min(10_000_000, i * 1_000_000);
      if (i === 4) view.output.write('Warning: The source token expires in 3 days.\n');
      if (i === 6) b!.finish(6_000, 'done');
      if (i === 8) view.output.write('Error: Table "in.c-s.c" failed (user error): it broke.\n');
      if (i === 8) c!.finish(8_000, 'failed', 'it broke');
      view.update(all, i * 1_000);
    }
    view.output.write('Summary\n');
    view.stop(all, 13_000);
    const screen = terminal.screen();
    expect(screen).toEqual([
      'Warning: The source token expires in 3 days.',
      'Error: Table "in.c-s.c" failed (user error): it broke.',
      'Summary',
      'tables 1/3 done, 1 failed, 1 not finished, 30.0 MB, 2.3 MB/s, 13 s',
    ]);
  });

  it('shows an ETA while the sizes are known', () => {
    const p = table('in.c-s.a');
    p.phase = 'transfer';
    p.bytesTotal = 100_000_000;
    p.bytes = 25_000_000;
    const lines = renderProgressBar([p], 5_000, 200);
    expect(lines[0]).toMatch(/ETA 15 s$/);
    expect(lines[1]).toMatch(/ETA 15 s$/);
    expect(formatSeconds(200)).toBe('3 min 20 s');
    expect(formatSeconds(7_500)).toBe('2 h 05 min');
  });
});
