import { UserError } from '../errors.js';

/**
 * Keboola gives a sync action 30 s; the job answers within this, so the UI gets our sentence
 * instead of a platform timeout (docs/sync-actions.md).
 */
export const SYNC_ACTION_DEADLINE_MS = 25_000;

/**
 * The latest failed attempt that a client's retry loop is repeating ({@link RetryNotes.note} is
 * the client's `onRetry`), so that a call still running at the deadline is told as failing with
 * that answer rather than as silent. Forgotten when one of the client's tracked calls settles.
 */
export class RetryNotes {
  #latest: string | undefined;
  readonly note = (error: Error): void => {
    this.#latest = error.message;
  };
  clear(): void {
    this.#latest = undefined;
  }
  latest(): string | undefined {
    return this.#latest;
  }
}

/**
 * Wraps an object so that its method calls still running can be named: `listTables(in.c-sales)`.
 * Used on the Storage client of a sync action, to say what did not answer by the deadline. A call
 * that settles clears `retries`: the failures noted before belong to calls that are over.
 */
export function trackCalls<T extends object>(
  target: T,
  retries?: RetryNotes,
): { client: T; pending(): string[]; retries: RetryNotes | undefined } {
  const running = new Map<number, string>();
  let next = 0;
  const client = new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const result: unknown = Reflect.apply(value, object, args);
        if (!(result instanceof Promise)) return result;
        const id = next++;
        const first = typeof args[0] === 'string' ? args[0] : '';
        running.set(id, `${String(property)}(${first})`);
        return result.finally(() => {
          running.delete(id);
          retries?.clear();
        });
      };
    },
  });
  return { client, pending: () => [...new Set(running.values())], retries };
}

/**
 * How the stalled API is told at a sync action's deadline: `did not answer verifyToken()`, or,
 * when its retries kept meeting failures, `kept failing verifyToken() (last failure: … answered
 * 503 …)`.
 */
export function describeStall(calls: {
  pending(): string[];
  retries: RetryNotes | undefined;
}): string {
  const pending = calls.pending().join(', ');
  const failure = calls.retries?.latest();
  if (failure === undefined) return `did not answer ${pending || 'in time'}`;
  return `kept failing ${pending || 'its requests'} (last failure: ${failure})`;
}

/**
 * Resolves with `work`, or rejects with a {@link UserError} built by `describe` once `deadlineMs`
 * passes (exit 1: the user's stack or token, not our code, is what did not answer).
 */
export async function withDeadline<T>(
  work: Promise<T>,
  deadlineMs: number,
  describe: () => string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new UserError(describe())), deadlineMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
