/**
 * Collects configuration problems as `parameters.path: what is wrong and how to fix it` lines
 * (docs/configuration.md), and shows user-written values in them without ever revealing a secret. Pure.
 */

import { escapeForDisplay } from '../text/escape.js';
import { looksLikeToken, secretValuesOf } from '../secrets.js';

/** A location in config.json: root key first, then object keys and array indexes. */
export type Path = readonly (string | number)[];

const PLAIN_KEY = /^[#A-Za-z_$][\w$#-]*$/;
const MAX_SHOWN_LENGTH = 60;
/** Problems kept word for word; the rest are only counted, so any config gives bounded output. */
export const MAX_PROBLEMS_SHOWN = 50;

export class Problems {
  readonly #lines: string[] = [];
  #notShown = 0;
  readonly #secrets: readonly string[];

  /**
   * `secrets`: every `#` value of the config; no value or key shown in a message will contain one,
   * nor its trimmed form or a token's secret part (`secretValuesOf`). Values shorter than 6
   * characters once trimmed, or one character repeated, are ignored, as in `SecretMasker`: they
   * cannot be told apart from ordinary words, and no real token is like that.
   */
  constructor(secrets: readonly string[]) {
    this.#secrets = [...new Set(secrets.flatMap(secretValuesOf))];
  }

  add(path: Path, message: string): void {
    if (this.#lines.length >= MAX_PROBLEMS_SHOWN) {
      this.#notShown += 1;
      return;
    }
    this.#lines.push(`${this.formatPath(path)}: ${message}`);
  }

  /** The first {@link MAX_PROBLEMS_SHOWN} problems, then `and N more problems` when there are more. */
  get lines(): readonly string[] {
    if (this.#notShown === 0) return this.#lines;
    return [...this.#lines, `and ${this.#notShown} more problems`];
  }

  get count(): number {
    return this.#lines.length + this.#notShown;
  }

  /**
   * A value the user wrote, JSON-quoted and cut to 60 characters, or `a hidden value` when it
   * contains a secret (someone pasted a token into the wrong field).
   */
  quote(text: string): string {
    if (this.holdsSecret(text) || looksLikeToken(text)) return 'a hidden value';
    return escapeForDisplay(
      JSON.stringify(text.length > MAX_SHOWN_LENGTH ? `${text.slice(0, 57)}...` : text),
    );
  }

  /**
   * `parameters.tables[1].changedSince`; odd keys are quoted: `parameters["a b"]`. The first
   * segment is the root key the parser chose (`parameters`, `action`) and is shown as is.
   */
  formatPath(path: Path): string {
    return path
      .map((segment, index) => {
        if (typeof segment === 'number') return `[${segment}]`;
        if (index > 0 && this.holdsSecret(segment)) return '[a hidden key]';
        if (PLAIN_KEY.test(segment) && segment.length <= MAX_SHOWN_LENGTH) {
          return index === 0 ? segment : `.${segment}`;
        }
        return `[${this.quote(segment)}]`;
      })
      .join('');
  }

  /** Whether the text contains one of the config's secrets (see the constructor). */
  holdsSecret(text: string): boolean {
    return this.#secrets.some((secret) => text.includes(secret));
  }
}
