/**
 * Masks secrets by value in any text that leaves the process (logs, errors, state, summaries).
 *
 * Values shaped like a Keboola token are masked even when never registered (a token pasted into
 * a table name, a destination, a column list).
 *
 * Every secret is registered once, as soon as it is known (config `#` values, tokens, object-store
 * credentials, SAS signatures, signed-URL query strings). `mask` replaces the plain value and its
 * URL-encoded and base64 forms, because those are the shapes in which a secret shows up inside a
 * URL, a header dump or an encoded blob.
 */
/**
 * Keboola token shapes, found anywhere in a text whatever key it came in: Storage API tokens
 * `<digits>-<digits>-<40 alphanumerics>`, and the programmatic bearer tokens `kbc_pat_…`
 * (personal) and `kbc_at_…` (session).
 */
const TOKEN_SHAPES = /\d+-\d+-[A-Za-z0-9]{40}(?![A-Za-z0-9])|kbc_(?:pat|at)_[A-Za-z0-9_-]{6,}/g;

/** Whether the text holds something shaped like a Keboola token (see {@link SecretMasker}). */
export function looksLikeToken(text: string): boolean {
  TOKEN_SHAPES.lastIndex = 0;
  const found = TOKEN_SHAPES.test(text);
  TOKEN_SHAPES.lastIndex = 0;
  return found;
}

/**
 * The text with every value shaped like a Keboola token replaced by `[hidden]`. Call it before
 * cutting a user-written value to show it: a cut token no longer has a token's shape, so no masker
 * applied afterwards would recognise it.
 */
export function hideTokenShapes(text: string): string {
  return text.replace(TOKEN_SHAPES, SecretMasker.replacement);
}

export class SecretMasker {
  readonly #forms = new Set<string>();
  static readonly replacement = '[hidden]';

  /**
   * Registers a secret, and its trimmed form: the config reader drops spaces around a token
   * (docs/configuration.md), so that form is the one sent and quoted. Values shorter than 6
   * characters are ignored: masking them would garble text.
   */
  add(secret: string | undefined | null): void {
    for (const value of new Set([secret, secret?.trim()])) {
      if (!value || value.length < 6) continue;
      for (const form of formsOf(value)) this.#forms.add(form);
    }
  }

  /** Registers every `#`-prefixed string value found anywhere in a JSON value, at any depth. */
  addHashKeys(value: unknown): void {
    for (const secret of hashValues(value)) this.add(secret);
  }

  /**
   * Returns the text with every registered secret form, and every value shaped like a Keboola
   * token, replaced by `[hidden]`.
   */
  mask(text: string): string {
    let out = hideTokenShapes(text);
    // Longest first, so a secret that contains another is replaced whole.
    for (const form of [...this.#forms].sort((a, b) => b.length - a.length)) {
      if (out.includes(form)) out = out.split(form).join(SecretMasker.replacement);
    }
    return out;
  }

  get size(): number {
    return this.#forms.size;
  }
}

function formsOf(secret: string): string[] {
  const forms = [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];
  // base64 of the secret inside a longer blob is aligned at any of three offsets; the middle part
  // that does not depend on the neighbours is still a reliable marker.
  const b64 = Buffer.from(secret).toString('base64');
  if (b64.length > 12) forms.push(b64.slice(4, -4));
  return forms.filter((form) => form.length >= 6);
}

/**
 * Every string value under a `#` key anywhere in a JSON value, at any depth: iterative, so no
 * nesting depth can exhaust the call stack or end the walk early (each object is visited once).
 */
export function hashValues(value: unknown): string[] {
  const found: string[] = [];
  const pending: unknown[] = [value];
  const seen = new Set<object>();
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object' || seen.has(node)) continue;
    seen.add(node);
    for (const [key, child] of Object.entries(node)) {
      if (key.startsWith('#') && typeof child === 'string') found.push(child);
      else pending.push(child);
    }
  }
  return found;
}
