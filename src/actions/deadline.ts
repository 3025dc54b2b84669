import { UserError } from '../errors.js';

/**
 * Keboola gives a sync action 30 s; the job answers within this, so the UI gets our sentence
 * instead of a platform timeout (docs/sync-actions.md).
 */
export const SYNC_ACTION_DEADLINE_MS = 25_000;

/**
 * Wraps an object so that its method calls still running can be named: `listTables(in.c-sales)`.
 * Used on the Storage client of a sync action, to say what did not answer by the deadline.
 */
export function trackCalls<T extends object>(target: T): { client: T; pending(): string[] } {
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
        return result.finally(() => running.delete(id));
      };
    },
  });
  return { client, pending: () => [...new Set(running.values())] };
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
