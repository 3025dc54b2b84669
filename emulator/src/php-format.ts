/**
 * Serialization quirks of the PHP Storage API (docs/storage-api-notes.md, PHP answer quirks), as pure helpers.
 */

/**
 * Formats an instant like PHP's `DATE_ISO8601` in UTC: `2024-02-13T12:56:57+0000` (no colon in
 * the offset, whole seconds).
 */
export function formatPhpTimestamp(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, '+0000');
}

/** Like {@link formatPhpTimestamp}, but `null` for an absent instant. */
export function formatOptionalTimestamp(ms: number | undefined): string | null {
  return ms === undefined ? null : formatPhpTimestamp(ms);
}

/** An AWS-style expiration (`2024-02-14T21:34:46+00:00`) for S3 credentials. */
export function formatIsoWithColon(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

/** PHP encodes an empty associative array as `[]`: an empty map becomes `[]`, others stay. */
export function phpMap<T>(map: Readonly<Record<string, T>>): Readonly<Record<string, T>> | [] {
  return Object.keys(map).length === 0 ? [] : map;
}
