/**
 * The emulator's clock. Real time by default; tests set or advance it so that row `_timestamp`s,
 * job `createdTime`s and credential expiry are deterministic. Time never goes backwards unless a
 * test sets it explicitly.
 */
export class EmulatorClock {
  #offsetMs = 0;
  #frozenAtMs: number | undefined;

  /** Current emulator time in ms since the epoch. */
  nowMs(): number {
    return this.#frozenAtMs ?? Date.now() + this.#offsetMs;
  }

  /** Current emulator time in whole unix seconds (the resolution of `_timestamp`). */
  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  /** Freezes the clock at `ms`; it stays there until advanced or released. */
  set(ms: number): void {
    this.#frozenAtMs = ms;
  }

  /** Moves the clock forward by `ms` (frozen or running). */
  advance(ms: number): void {
    if (this.#frozenAtMs !== undefined) this.#frozenAtMs += ms;
    else this.#offsetMs += ms;
  }

  /** Lets the clock run again from where it stands. */
  release(): void {
    if (this.#frozenAtMs === undefined) return;
    this.#offsetMs = this.#frozenAtMs - Date.now();
    this.#frozenAtMs = undefined;
  }
}
