import { Writable } from 'node:stream';

/** `ESC [ n F` or `ESC [ J` at the start of the text. */
const CONTROL = new RegExp(`^${String.fromCharCode(27)}\\[(\\d*)([FJ])`);

/**
 * A writable that renders what a terminal would show, for the few control sequences the progress
 * bar uses: `ESC [ n F` (cursor to the start of the line n lines up), `ESC [ J` (clear to the end
 * of the screen), newline and printable text (overwriting). `screen()` is the final picture.
 */
export class FakeTerminal extends Writable {
  readonly isTTY = true;
  readonly #lines: string[] = [''];
  #row = 0;
  #column = 0;

  constructor(readonly columns = 100) {
    super({ decodeStrings: false });
  }

  override _write(
    chunk: string | Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.#render(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    callback();
  }

  /** The lines on the screen, without the empty line the cursor sits on at the end. */
  screen(): string[] {
    const lines = [...this.#lines];
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines;
  }

  #render(text: string): void {
    // Bounded: every step consumes at least one character.
    for (let i = 0; i < text.length;) {
      const control = CONTROL.exec(text.slice(i, i + 16));
      if (control) {
        if (control[2] === 'F') {
          this.#row = Math.max(0, this.#row - Number(control[1] || 1));
          this.#column = 0;
        } else {
          this.#lines.length = this.#row + 1;
          this.#lines[this.#row] = (this.#lines[this.#row] ?? '').slice(0, this.#column);
        }
        i += control[0].length;
        continue;
      }
      const char = text[i] ?? '';
      if (char === '\n') {
        this.#row += 1;
        this.#column = 0;
        while (this.#lines.length <= this.#row) this.#lines.push('');
      } else {
        const line = this.#lines[this.#row] ?? '';
        this.#lines[this.#row] =
          line.slice(0, this.#column).padEnd(this.#column) + char + line.slice(this.#column + 1);
        this.#column += 1;
      }
      i += 1;
    }
  }
}
