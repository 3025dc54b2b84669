import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvRecordCounter } from '../../../src/transfer/verify-gzip.js';

/** Reference: a byte-by-byte RFC 4180 record count (a final record without newline counts). */
function referenceRecords(text: string): number {
  let records = 0;
  let inQuotes = false;
  for (const char of text) {
    if (char === '"') inQuotes = !inQuotes;
    else if (char === '\n' && !inQuotes) records += 1;
  }
  return records + (text.length > 0 && !text.endsWith('\n') ? 1 : 0);
}

describe('CsvRecordCounter (linear scan)', () => {
  it('counts like a byte-by-byte reference, however the input is split', () => {
    const csvText = fc
      .array(fc.constantFrom('a', ',', '"', '\n', '""', '"x\ny"'), { maxLength: 200 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(csvText, fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
        const bytes = Buffer.from(text);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const counter = new CsvRecordCounter();
        let from = 0;
        for (const point of [...points, bytes.length]) {
          counter.feed(bytes.subarray(from, point));
          from = point;
        }
        expect(counter.records).toBe(referenceRecords(text));
      }),
      { numRuns: 2_000, seed: 5 },
    );
  });

  it('counts wide fully quoted rows', () => {
    const row = `${Array.from({ length: 31 }, (_, i) => `"c${i}-12345"`).join(',')}\n`;
    const counter = new CsvRecordCounter();
    counter.feed(Buffer.from(row.repeat(1_000)));
    expect(counter.records).toBe(1_000);
  });
});
