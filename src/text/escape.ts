/**
 * Shows untrusted text (names from config.json, the command line, API answers) safely in one log
 * line or message: control characters (C0, DEL, C1), line and paragraph separators and the
 * bidirectional overrides and isolates are replaced by `\u{…}` escapes, so a name can neither
 * break a line, forge another log line, nor reorder what a terminal shows. Pure.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

export function escapeForDisplay(text: string): string {
  return text.replace(UNSAFE, (char) => `\\u{${char.codePointAt(0)?.toString(16) ?? '0'}}`);
}

/**
 * The same characters as JSON `\uXXXX` escapes, for a JSON line that must stay valid JSON while
 * holding no raw control or bidirectional character (JSON.stringify leaves C1 and bidi raw).
 */
export function escapeJsonLine(line: string): string {
  return line.replace(
    UNSAFE,
    (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}
