/**
 * Masks secrets by value in any text that leaves the process (logs, errors, state, summaries).
 *
 * Values shaped like a Keboola token are masked even when never registered (a token pasted into
 * a table name, a destination, a column list).
 *
 * Every secret is registered once, as soon as it is known (config `#` values, tokens, object-store
 * credentials, SAS signatures, signed-URL query strings). `mask` replaces the plain value and the
 * forms it takes inside other text (see {@link formsOf}): URL-encoded, JSON-escaped and base64 at
 * any alignment, because those are the shapes in which a secret shows up inside a URL, a JSON
 * document, a header dump or an encoded blob. A token's secret part (the 40 characters after its
 * public project and token ids) is a secret of its own.
 */
/**
 * Keboola token shapes, found anywhere in a text whatever key it came in: Storage API tokens
 * `<digits>-<digits>-<40 alphanumerics>`, and the programmatic bearer tokens `kbc_pat_…`
 * (personal) and `kbc_at_…` (session).
 */
const TOKEN_SHAPES = /\d+-\d+-[A-Za-z0-9]{40}(?![A-Za-z0-9])|kbc_(?:pat|at)_[A-Za-z0-9_-]{6,}/g;

/**
 * A whole Storage API token: the project id and the token id are public (tokens/verify answers
 * them, the UI lists them); the 40 characters after them are the secret.
 */
const STORAGE_TOKEN = /^\d+-\d+-([A-Za-z0-9]{40})$/;

/**
 * Values shorter than this once trimmed are never registered: masking them would garble ordinary
 * text (and spaces alone would cut through the indentation of every JSON document).
 */
const MIN_SECRET_LENGTH = 6;

/**
 * The shortest middle part of a secret's base64 that is masked: shorter runs of base64 letters
 * occur in ordinary text (16 characters stand for 12 bytes of the secret).
 */
const MIN_BASE64_PART_LENGTH = 16;

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

/**
 * The values that a secret stands for: the secret, its trimmed form (the config reader drops
 * spaces around a token, docs/configuration.md, so that form is the one sent and quoted) and,
 * for a Storage API token, its secret part alone. None for a degenerate secret
 * ({@link isDegenerate}).
 */
export function secretValuesOf(secret: string | undefined | null): string[] {
  const values = new Set<string>();
  if (!secret || isDegenerate(secret.trim())) return [];
  for (const value of [secret, secret.trim()]) {
    values.add(value);
    const part = STORAGE_TOKEN.exec(value)?.[1];
    if (part !== undefined) values.add(part);
  }
  return [...values];
}

/**
 * Whether a trimmed secret is too weak to tell from ordinary text, so masking it would only garble
 * outputs: shorter than 6 characters, or one character repeated, spaces aside (`------`,
 * `000000`, `- - - -`: a rule under a heading, the zeros of a row count). Such a value hides
 * nothing anyone would not guess first.
 */
function isDegenerate(trimmed: string): boolean {
  if (trimmed.length < MIN_SECRET_LENGTH) return true;
  return new Set(trimmed.replace(/\s/g, '')).size < 2;
}

/**
 * Whether the text contains one of `secrets` or the secret part of one (see
 * {@link secretValuesOf}), for pure code that holds the secrets rather than a masker (pure).
 */
export function holdsSecret(text: string, secrets: readonly string[]): boolean {
  return secrets.some((secret) => secretValuesOf(secret).some((value) => text.includes(value)));
}

/**
 * The text with every value of `secrets` ({@link secretValuesOf}) and every token shape replaced
 * by `[hidden]` (pure). Like {@link hideTokenShapes}, for a text about to be cut.
 */
export function hideSecrets(text: string, secrets: readonly string[]): string {
  const values = secrets.flatMap(secretValuesOf).sort((a, b) => b.length - a.length);
  let out = hideTokenShapes(text);
  for (const value of values) out = out.split(value).join(SecretMasker.replacement);
  return out;
}

/**
 * From this many registered forms on, {@link SecretMasker.mask} first looks up which forms occur in
 * the text, through an index of their first characters (one lookup per character of the text),
 * instead of searching the text once per form. A run registers object-store credentials for every
 * table it exports, about 20 forms each, so a run over 200 tables holds thousands of forms
 * (docs/performance.md, Masking many secrets).
 */
const INDEXED_MASK_MIN_FORMS = 64;

export class SecretMasker {
  /** Each registered form and its registration order (forms are never removed). */
  readonly #forms = new Map<string, number>();
  /**
   * The forms, longest first (in registration order among forms of one length), so a secret that
   * contains another is replaced whole. Each form is inserted at its place when it is registered:
   * nothing is sorted in {@link mask} (once per line) or again per secret.
   */
  readonly #longestFirst: string[] = [];
  /** The forms by their first {@link MIN_SECRET_LENGTH} characters (every form has as many). */
  readonly #byPrefix = new Map<string, string[]>();
  /** The forms that could newly occur once another form is replaced ({@link overlapsReplacement}). */
  readonly #overlapping: string[] = [];
  /** From how many forms on {@link mask} uses the index (tests compare both ways). */
  readonly #indexFromForms: number;
  static readonly replacement = '[hidden]';

  constructor(options: { readonly indexFromForms?: number } = {}) {
    this.#indexFromForms = options.indexFromForms ?? INDEXED_MASK_MIN_FORMS;
  }

  /**
   * Registers a secret with every value it stands for ({@link secretValuesOf}): itself, its
   * trimmed form and a token's secret part; each in every form {@link formsOf} lists.
   */
  add(secret: string | undefined | null): void {
    for (const value of secretValuesOf(secret)) {
      for (const form of formsOf(value)) this.#register(form);
    }
  }

  #register(form: string): void {
    if (this.#forms.has(form)) return;
    this.#forms.set(form, this.#forms.size);
    this.#longestFirst.splice(firstShorterIndex(this.#longestFirst, form.length), 0, form);
    const prefix = form.slice(0, MIN_SECRET_LENGTH);
    const samePrefix = this.#byPrefix.get(prefix);
    if (samePrefix) samePrefix.push(form);
    else this.#byPrefix.set(prefix, [form]);
    if (overlapsReplacement(form)) this.#overlapping.push(form);
  }

  /** Registers every string found under a `#` key anywhere in a JSON value ({@link hashValues}). */
  addHashKeys(value: unknown): void {
    for (const secret of hashValues(value)) this.add(secret);
  }

  /**
   * Returns the text with every registered secret form, and every value shaped like a Keboola
   * token, replaced by `[hidden]`.
   */
  mask(text: string): string {
    let out = hideTokenShapes(text);
    for (const form of this.#candidatesIn(out)) {
      if (out.includes(form)) out = out.split(form).join(SecretMasker.replacement);
    }
    return out;
  }

  /**
   * The forms {@link mask} must try on `text`, longest first. With many forms: those that occur
   * in it, plus those that could occur only after a replacement. A replacement removes characters
   * and puts `[hidden]` in their place, so any other occurrence it creates overlaps that text.
   */
  #candidatesIn(text: string): readonly string[] {
    if (this.#forms.size < this.#indexFromForms) return this.#longestFirst;
    const found = new Set(this.#overlapping);
    for (let at = 0; at + MIN_SECRET_LENGTH <= text.length; at++) {
      const samePrefix = this.#byPrefix.get(text.slice(at, at + MIN_SECRET_LENGTH));
      for (const form of samePrefix ?? []) if (text.startsWith(form, at)) found.add(form);
    }
    const order = (form: string) => this.#forms.get(form) ?? 0;
    return [...found].sort((a, b) => b.length - a.length || order(a) - order(b));
  }

  /**
   * The JSON text of `value` (`JSON.stringify`, indented by `indent` spaces), with each string in
   * it, value or key, masked on its own ({@link mask}). For the documents written as JSON (a
   * manifest, the summary file, a sync action's answer): a secret can then never cut across the
   * document's quotes, commas or indentation, so the text stays valid JSON of the same shape. Two
   * keys of one object that mask alike become one key (the later value).
   */
  maskedJson(value: unknown, indent?: number): string {
    return JSON.stringify(value, (_key, node: unknown) => this.#maskNode(node), indent);
  }

  #maskNode(node: unknown): unknown {
    if (typeof node === 'string') return this.mask(node);
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return node;
    const entries = Object.entries(node);
    if (entries.every(([key]) => this.mask(key) === key)) return node;
    return Object.fromEntries(entries.map(([key, child]) => [this.mask(key), child]));
  }

  /**
   * Whether {@link mask} would change the text: it holds a registered secret or a value shaped
   * like a token. For values that must never be written anywhere in any form (a name that
   * becomes a file name, a state key, a header): those are refused rather than masked.
   */
  reveals(text: string): boolean {
    return this.mask(text) !== text;
  }

  get size(): number {
    return this.#forms.size;
  }
}

/** The index of the first form shorter than `length` in a list sorted longest first. */
function firstShorterIndex(longestFirst: readonly string[], length: number): number {
  let low = 0;
  let high = longestFirst.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((longestFirst[middle]?.length ?? 0) < length) high = middle;
    else low = middle + 1;
  }
  return low;
}

/**
 * Whether a form could overlap a `[hidden]` that replaced another form: it contains that text or
 * lies inside it, or it ends with the text's beginning or starts with its end.
 */
function overlapsReplacement(form: string): boolean {
  const replacement = SecretMasker.replacement;
  if (form.includes(replacement) || replacement.includes(form)) return true;
  for (let length = 1; length < replacement.length; length++) {
    if (form.endsWith(replacement.slice(0, length))) return true;
    if (form.startsWith(replacement.slice(replacement.length - length))) return true;
  }
  return false;
}

/**
 * The forms in which a secret shows up inside other text: plain, URL-encoded, JSON-escaped once
 * and twice (a secret with `"` or `\` inside a JSON document, or inside a JSON string that is
 * itself logged as JSON), base64 on its own, and the middle parts of its base64 inside a longer
 * blob. Base64 encodes 3 bytes as 4 letters, so a secret preceded by 0, 1 or 2 bytes (modulo 3)
 * is encoded in 3 entirely different ways; in each, the first and the last group of 4 letters
 * also depend on the bytes around the secret, and what lies between them does not.
 */
function formsOf(secret: string): string[] {
  const once = JSON.stringify(secret).slice(1, -1);
  const twice = JSON.stringify(once).slice(1, -1);
  const bytes = Buffer.from(secret);
  const forms = [secret, ...urlEncoded(secret), once, twice, bytes.toString('base64')];
  for (const shift of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const middle = encoded.slice(4, -4);
    if (middle.length >= MIN_BASE64_PART_LENGTH) forms.push(middle);
  }
  return [...new Set(forms)].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/** The URL-encoded form; none for a string that holds a lone surrogate (no URL can carry it). */
function urlEncoded(secret: string): string[] {
  try {
    return [encodeURIComponent(secret)];
  } catch {
    return [];
  }
}

/**
 * Every string under a `#` key anywhere in a JSON value, at any depth: a `#` key's string value,
 * and every string at any depth inside a `#` key's list or object. Iterative, so no nesting depth
 * can exhaust the call stack or end the walk early (each object is visited once).
 */
export function hashValues(value: unknown): string[] {
  const found: string[] = [];
  const pending: Array<{ readonly node: unknown; readonly secret: boolean }> = [
    { node: value, secret: false },
  ];
  const seen = new Set<object>();
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { node, secret } = next;
    if (typeof node === 'string') {
      if (secret) found.push(node);
      continue;
    }
    if (node === null || typeof node !== 'object' || seen.has(node)) continue;
    seen.add(node);
    for (const [key, child] of Object.entries(node)) {
      pending.push({ node: child, secret: secret || key.startsWith('#') });
    }
  }
  return found;
}
