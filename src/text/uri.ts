/** The text with its percent-escapes undone, or as it is where they are malformed. Pure. */
export function safeDecodeUri(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
