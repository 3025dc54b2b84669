import type { TableState } from './cursor.js';
import { writeState, type JobState } from './state-file.js';

/**
 * `out/state.json` as a mirror of the destinations' sync records (standalone mode): rewritten
 * after each table whose import is recorded, so a run killed later still leaves a report of what
 * was committed. Writes are serialised; each writes the whole state (atomic rename).
 */
export class StateMirror {
  readonly #dataDir: string;
  #state: JobState;
  #last: Promise<void> = Promise.resolve();

  constructor(dataDir: string, initial: JobState) {
    this.#dataDir = dataDir;
    this.#state = initial;
  }

  /** Sets one table's entry and writes the state; resolves once this write is done. */
  record(sourceTableId: string, entry: TableState): Promise<void> {
    this.#state = { ...this.#state, tables: { ...this.#state.tables, [sourceTableId]: entry } };
    const state = this.#state;
    this.#last = this.#last
      .catch(() => undefined)
      .then(async () => {
        await writeState(this.#dataDir, state);
      });
    return this.#last;
  }

  /** Resolves when every write has ended (failures included). */
  async settled(): Promise<void> {
    await this.#last.catch(() => undefined);
  }
}
