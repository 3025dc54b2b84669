import { describe, expect, it } from 'vitest';
import { TableProgress } from '../../../src/transfer/progress.js';

describe('TableProgress phase times', () => {
  it('adds up the time of each phase from the injected clock', () => {
    const clock = { ms: 0 };
    const p = new TableProgress('t', 'd', () => clock.ms);
    p.start(clock.ms);
    p.phase = 'export job';
    clock.ms = 1_500;
    p.phase = 'transfer';
    clock.ms = 11_500;
    p.phase = 'import job';
    clock.ms = 12_000;
    p.finish(clock.ms, 'done');
    expect(p.phaseSeconds).toEqual({ 'export job': 1.5, transfer: 10, 'import job': 0.5 });
    expect(p.active).toBe(false);
    expect(p.elapsedSeconds(99_999)).toBe(12);
  });

  it('is active between start and finish only', () => {
    const p = new TableProgress('t', 'd', () => 0);
    expect(p.active).toBe(false);
    p.start(0);
    expect(p.active).toBe(true);
    p.finish(1, 'failed', 'x');
    expect(p.active).toBe(false);
    expect(p.error).toBe('x');
  });
});
