/**
 * Byte ranges of object GETs (pure), shared by the three object APIs: `Range: bytes=…` on S3 and
 * GCS, `x-ms-range` (else `Range`) on Azure. One range per request, as the cloud SDKs send.
 */

/** What a GET answers: the whole object, bytes `start..end` (inclusive), or 416. */
export type RangeAnswer =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

const FULL: RangeAnswer = { kind: 'full' };

/**
 * Reads one `bytes=` range against an object of `sizeBytes`. A header that is absent, malformed or
 * names several ranges is ignored (the whole object, 200), as S3 and GCS do; a range that starts
 * at or beyond the end, or an empty suffix, is unsatisfiable (416). The end is clamped to the
 * object's last byte.
 */
export function parseByteRange(header: string | undefined, sizeBytes: number): RangeAnswer {
  if (header === undefined) return FULL;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return FULL;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return FULL;
  if (first === '') {
    const suffixBytes = Number(last);
    if (suffixBytes === 0 || sizeBytes === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, sizeBytes - suffixBytes), end: sizeBytes - 1 };
  }
  const start = Number(first);
  const end = last === '' ? sizeBytes - 1 : Math.min(Number(last), sizeBytes - 1);
  if (last !== '' && Number(last) < start) return FULL;
  if (start >= sizeBytes) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

/** The range header a request of this API uses: Azure prefers `x-ms-range` over `Range`. */
export function rangeHeaderOf(
  api: 's3' | 'azure' | 'gcs-json' | 'gcs-xml' | 'gcs-upload',
  headers: Readonly<Record<string, readonly string[] | undefined>>,
): string | undefined {
  const pick = (name: string): string | undefined => headers[name]?.[0];
  return api === 'azure' ? (pick('x-ms-range') ?? pick('range')) : pick('range');
}

/** `Content-Range` of a partial answer, or of a 416 (`bytes *\/size`). */
export function contentRange(answer: RangeAnswer, sizeBytes: number): string | undefined {
  if (answer.kind === 'partial') return `bytes ${answer.start}-${answer.end}/${sizeBytes}`;
  if (answer.kind === 'unsatisfiable') return `bytes */${sizeBytes}`;
  return undefined;
}
