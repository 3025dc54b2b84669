import { describe, expect, it } from 'vitest';
import {
  classifyFailure,
  DEFAULT_RETRY_OPTIONS,
  delayMs,
  isRetryable,
  parseRetryAfterSeconds,
  withinBudget,
  type FailureFacts,
} from '../../../src/retry/retry-policy.js';

describe('isRetryable', () => {
  it.each<[string, FailureFacts, boolean, boolean]>([
    // name, facts, idempotent?, job start?
    ['ECONNREFUSED', { networkCode: 'ECONNREFUSED' }, true, true],
    ['EAI_AGAIN', { networkCode: 'EAI_AGAIN' }, true, true],
    ['ENOTFOUND (no such host)', { networkCode: 'ENOTFOUND' }, false, false],
    ['ECONNRESET', { networkCode: 'ECONNRESET' }, true, false],
    ['ETIMEDOUT', { networkCode: 'ETIMEDOUT' }, true, false],
    // Also what an open connection says when it gives up after the request went out.
    ['EHOSTUNREACH', { networkCode: 'EHOSTUNREACH' }, true, false],
    ['ENETUNREACH', { networkCode: 'ENETUNREACH' }, true, false],
    ['ECONNABORTED', { networkCode: 'ECONNABORTED' }, true, false],
    ['socket hang up', { networkCode: 'socket hang up' }, true, false],
    ['ABORTED (stopped by this job)', { networkCode: 'ABORTED' }, false, false],
    ['unknown error', {}, false, false],
    ['400', { status: 400 }, false, false],
    ['401', { status: 401 }, false, false],
    ['403', { status: 403 }, false, false],
    ['404', { status: 404 }, false, false],
    ['408', { status: 408 }, true, false],
    ['409', { status: 409 }, false, false],
    ['429', { status: 429 }, true, true],
    ['500', { status: 500 }, true, false],
    ['501', { status: 501 }, false, false],
    ['502', { status: 502 }, true, false],
    ['503 plain', { status: 503 }, true, false],
    ['503 maintenance', { status: 503, maintenance: true }, true, true],
    ['504', { status: 504 }, true, false],
    ['500 proven not started', { status: 500, provenNotStarted: true }, true, true],
    ['400 proven not started', { status: 400, provenNotStarted: true }, false, false],
  ])('%s', (_name, facts, idempotent, jobStart) => {
    expect(isRetryable(facts, 'idempotent')).toBe(idempotent);
    expect(isRetryable(facts, 'jobStart')).toBe(jobStart);
  });

  it('classifies outcomes', () => {
    expect(classifyFailure({ status: 500 })).toBe('unknown');
    expect(classifyFailure({ status: 429 })).toBe('notReached');
    expect(classifyFailure({ status: 418 })).toBe('permanent');
    // Aborted in flight: the server may hold the request, so a job start must be looked up.
    expect(classifyFailure({ networkCode: 'ABORTED' })).toBe('unknown');
  });
});

describe('delayMs', () => {
  const half = () => 0.5;
  const equal = { ...DEFAULT_RETRY_OPTIONS, jitter: 'equal' as const };
  const full = { ...DEFAULT_RETRY_OPTIONS, jitter: 'full' as const };

  it.each([
    [1, 375],
    [2, 750],
    [3, 1500],
    [4, 3000],
    [6, 12000],
    [7, 15000],
    [20, 15000],
  ])('equal jitter, attempt %i → %i ms', (attempt, expected) => {
    expect(delayMs(attempt, undefined, half, equal)).toBe(expected);
  });

  it('full jitter spans 0..step', () => {
    expect(delayMs(1, undefined, () => 0, full)).toBe(0);
    expect(delayMs(3, undefined, () => 0.999999, full)).toBe(2000);
    expect(delayMs(30, undefined, () => 0.5, full)).toBe(10000);
  });

  it('honours a longer Retry-After in full, up to the request budget', () => {
    expect(delayMs(1, 2, half, equal)).toBe(2000);
    expect(delayMs(1, 300, half, equal)).toBe(300_000);
    expect(delayMs(1, 3600, half, equal)).toBe(600_000);
    // Past the budget: no attempt left, the request gives up at once.
    expect(withinBudget(1, 0, delayMs(1, 3600, half, equal))).toBe(false);
    expect(delayMs(5, 0, half, equal)).toBe(6000);
  });
});

describe('withinBudget', () => {
  const options = { ...DEFAULT_RETRY_OPTIONS, maxAttempts: 3, budgetMs: 1_000 };
  it.each([
    [1, 0, 100, true],
    [2, 800, 100, true],
    [2, 900, 100, false],
    [3, 0, 0, false],
  ])('attempts %i, elapsed %i, next %i → %s', (attempts, elapsed, next, expected) => {
    expect(withinBudget(attempts, elapsed, next, options)).toBe(expected);
  });
});

describe('parseRetryAfterSeconds', () => {
  const nowMs = Date.parse('2024-01-01T00:00:00Z');
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['7', 7],
    ['1.5', 1.5],
    ['Mon, 01 Jan 2024 00:00:30 GMT', 30],
    ['Sun, 31 Dec 2023 00:00:00 GMT', 0],
    ['soon', undefined],
  ])('%s → %s', (header, expected) => {
    expect(parseRetryAfterSeconds(header, nowMs)).toBe(expected);
  });
});
