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
  | { readonly kind: 'expireCredentials' };

export type FaultSpec = FaultKind & {
  /** HTTP method to match; any when absent. */
  readonly method?: string;
  /** Matches when the request path (without query) contains this text, or matches this regex source wrapped in `/…/`. */
  readonly path: string;
  /** Uses before the fault is spent; default 1. */
  readonly count?: number;
  /** Skip this many matching requests before the fault starts applying; default 0. */
  readonly skip?: number;
};

interface ActiveFault {
  readonly spec: FaultSpec;
  remaining: number;
  skipLeft: number;
}

export class FaultRegistry {
  readonly #faults: ActiveFault[] = [];
  #injected = 0;

  add(spec: FaultSpec): void {
    this.#faults.push({ spec, remaining: spec.count ?? 1, skipLeft: spec.skip ?? 0 });
  }

  clear(): void {
    this.#faults.length = 0;
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
      return fault.spec;
    }
    return undefined;
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
