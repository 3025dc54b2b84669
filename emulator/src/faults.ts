/**
 * Fault injection, configurable per path and per count (issue: fault tolerance). The Storage API
 * routes and the object-store routes both consult one registry; each matching request consumes one
 * use of the fault, so "fail twice, then succeed" is `count: 2`.
 */
export type FaultKind =
  /** Answer with this status (and optional Retry-After / body) instead of handling the request. */
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly retryAfterSeconds?: number;
      readonly body?: unknown;
      /**
       * Storage API routes: handle the request first (a job-starting POST creates its job), then
       * answer with this status instead: the client sees a failure whose outcome is unknown.
       */
      readonly afterHandling?: boolean;
      /**
       * Storage API routes: answer with this status at once, then handle the request this many ms
       * later (a gateway that gave up while the backend carried on): a job it starts appears only
       * after the client was told the request failed.
       */
      readonly handleAfterMs?: number;
    }
  /** Delay the answer. */
  | { readonly kind: 'latency'; readonly ms: number }
  /** Send headers and the first `afterBytes` bytes of the body, then destroy the socket. */
  | {
      readonly kind: 'reset';
      readonly afterBytes: number;
      /** Storage API routes: handle the request first, then cut the answer (see `status`). */
      readonly afterHandling?: boolean;
    }
  /** Object GET: serve the gzip object cut short (valid prefix, no trailer). */
  | { readonly kind: 'truncateGzip' }
  /** Object GET: serve the gzip object with flipped bytes in the middle (CRC fails). */
  | { readonly kind: 'corruptGzip' }
  /** Send a Content-Length larger than the body, then end the response. */
  | { readonly kind: 'contentLengthMismatch' }
  /** A job started by this request stays `processing` forever. */
  | { readonly kind: 'jobStuck' }
  /** A job started by this request ends in `error` with this code and message. */
  | { readonly kind: 'jobError'; readonly code: string; readonly message: string }
  /** The request's token is revoked (as by a refresh) just before the request is handled. */
  | { readonly kind: 'revokeToken' }
  /** The request's token expires (emulator clock) just before the request is handled. */
  | { readonly kind: 'expireToken' }
  /** Every provider credential issued so far expires just before the request is handled. */
  | { readonly kind: 'expireCredentials' }
  /**
   * Storage API routes: hold the request without an answer until the client goes away or
   * `releaseHolds()` is called. Before handling, a request whose client has gone is dropped
   * unhandled (it never reached the server); with `afterHandling` the request is handled first
   * (a job it starts runs, a metadata write lands) and only the answer is held. Tests use it to
   * kill the job at a named moment (see `whenApplied`).
   */
  | { readonly kind: 'hold'; readonly afterHandling?: boolean }
  /**
   * Storage API routes: the backend is busy from this request on: every backend write (table
   * creates, loads, row changes) that starts after it waits until `releaseHolds()`. The request
   * itself is handled (a job it starts begins its work, which then waits at its first write).
   * Tests use it to let other requests land while a job is in the middle of its work.
   */
  | { readonly kind: 'holdWrites' };

export type FaultSpec = FaultKind & {
  /** HTTP method to match; any when absent. */
  readonly method?: string;
  /** Matches when the request path (without query) contains this text, or matches this regex source wrapped in `/…/`. */
  readonly path: string;
  /** Uses before the fault is spent; default 1. */
  readonly count?: number;
  /** Skip this many matching requests before the fault starts applying; default 0. */
  readonly skip?: number;
  /** A name for tests that wait for the fault to apply ({@link FaultRegistry.whenApplied}). */
  readonly label?: string;
};

interface ActiveFault {
  readonly spec: FaultSpec;
  remaining: number;
  skipLeft: number;
}

/** Every fault kind (FaultKind's `kind`), for checking specs that come in over HTTP. */
const FAULT_KINDS: ReadonlySet<string> = new Set([
  'status',
  'latency',
  'reset',
  'truncateGzip',
  'corruptGzip',
  'contentLengthMismatch',
  'jobStuck',
  'jobError',
  'revokeToken',
  'expireToken',
  'expireCredentials',
  'hold',
  'holdWrites',
] satisfies FaultKind['kind'][]);

export class FaultRegistry {
  readonly #faults: ActiveFault[] = [];
  #injected = 0;
  /** Waiters of {@link whenApplied}, by label. */
  readonly #waiters = new Map<string, Array<(spec: FaultSpec) => void>>();
  /** Release callbacks of the requests a `hold` fault is holding. */
  readonly #holds = new Set<() => void>();

  /**
   * @throws RangeError for a spec without a known `kind` or a string `path` (a control request
   * answers 400 with it): such a fault would fail every later request when matched.
   */
  add(spec: FaultSpec): void {
    const raw = spec as unknown as Record<string, unknown> | null;
    if (typeof raw?.kind !== 'string' || !FAULT_KINDS.has(raw.kind)) {
      throw new RangeError(
        `A fault needs "kind", one of ${[...FAULT_KINDS].join(', ')}; got ${JSON.stringify(raw?.kind)}.`,
      );
    }
    if (typeof raw.path !== 'string') {
      throw new RangeError(
        'A fault needs "path": text the request path contains, or a regex source wrapped in /…/.',
      );
    }
    this.#faults.push({ spec, remaining: spec.count ?? 1, skipLeft: spec.skip ?? 0 });
  }

  /** Removes every fault and lets held requests go on. */
  clear(): void {
    this.#faults.length = 0;
    this.releaseHolds();
  }

  /**
   * Consumes and returns the first live fault matching the request whose kind is one of `kinds`
   * (each route asks only for the kinds it can apply) and that `accept` (optional) admits, or
   * undefined.
   */
  take(
    method: string,
    path: string,
    kinds: readonly FaultKind['kind'][],
    accept?: (spec: FaultSpec) => boolean,
  ): FaultSpec | undefined {
    for (const fault of this.#faults) {
      if (fault.remaining <= 0 || !kinds.includes(fault.spec.kind)) continue;
      if (accept && !accept(fault.spec)) continue;
      if (fault.spec.method && fault.spec.method.toUpperCase() !== method.toUpperCase()) continue;
      if (!pathMatches(fault.spec.path, path)) continue;
      if (fault.skipLeft > 0) {
        fault.skipLeft -= 1;
        continue;
      }
      fault.remaining -= 1;
      this.#injected += 1;
      this.#notify(fault.spec);
      return fault.spec;
    }
    return undefined;
  }

  /**
   * Resolves when the fault labelled `label` is next applied (the request reached it). Lets a
   * test act at a named moment, e.g. SIGKILL the job while a `hold` keeps its request open.
   */
  whenApplied(label: string): Promise<FaultSpec> {
    return new Promise((resolve) => {
      const list = this.#waiters.get(label) ?? [];
      list.push(resolve);
      this.#waiters.set(label, list);
    });
  }

  #notify(spec: FaultSpec): void {
    if (spec.label === undefined) return;
    const list = this.#waiters.get(spec.label) ?? [];
    this.#waiters.delete(spec.label);
    for (const resolve of list) resolve(spec);
  }

  /**
   * Holds a request (a `hold` fault): resolves when `releaseHolds()` is called or `gone` fires
   * (the client closed its connection), with whether the client is still there.
   */
  hold(clientGone: (onGone: () => void) => void): Promise<'released' | 'gone'> {
    return new Promise((resolve) => {
      const release = () => {
        this.#holds.delete(release);
        resolve('released');
      };
      this.#holds.add(release);
      clientGone(() => {
        if (!this.#holds.delete(release)) return;
        resolve('gone');
      });
    });
  }

  /** Resolves when `releaseHolds()` is called (a `holdWrites` fault: no client to go away). */
  holdUntilReleased(): Promise<void> {
    return new Promise((resolve) => {
      const release = () => {
        this.#holds.delete(release);
        resolve();
      };
      this.#holds.add(release);
    });
  }

  /** Lets every held request go on. */
  releaseHolds(): void {
    for (const release of [...this.#holds]) release();
  }

  /** How many faults were applied since start. */
  get injectedCount(): number {
    return this.#injected;
  }

  /** Faults not yet fully used. */
  pending(): FaultSpec[] {
    return this.#faults.filter((f) => f.remaining > 0).map((f) => f.spec);
  }
}

function pathMatches(pattern: string, path: string): boolean {
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    return new RegExp(pattern.slice(1, -1)).test(path);
  }
  return path.includes(pattern);
}
