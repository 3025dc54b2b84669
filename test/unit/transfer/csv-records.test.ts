import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CSV_RECORDS_WASM_BASE64 } from '../../../src/transfer/csv-records-wasm.js';
import {
  CsvRecordCounter,
  createWasmKernel,
  javascriptKernel,
  type RecordKernel,
} from '../../../src/transfer/csv-records.js';
import { compileCsvRecordsWat } from '../../../scripts/build-wasm.mjs';

/** Reference: a character-by-character RFC 4180 record count (a final record without newline counts). */
function referenceRecords(text: string): number {
  let records = 0;
  let inQuotes = false;
  for (const char of text) {
    if (char === '"') inQuotes = !inQuotes;
    else if (char === '\n' && !inQuotes) records += 1;
  }
  return records + (text.length > 0 && !text.endsWith('\n') ? 1 : 0);
}

const wasmKernel = createWasmKernel();

const kernels: [string, RecordKernel][] = [
  ['javascript', javascriptKernel],
  ['wasm simd', wasmKernel ?? javascriptKernel],
];

describe.each(kernels)('CsvRecordCounter (%s kernel)', (_name, kernel) => {
  it('counts like a character-by-character reference, however the input is split', () => {
    const csvText = fc
      .array(fc.constantFrom('a', ',', '"', '\n', '""', '"x\ny"', 'é'), { maxLength: 400 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(csvText, fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
        const bytes = Buffer.from(text);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const counter = new CsvRecordCounter(kernel);
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

  it('counts wide fully quoted rows, and quoted newlines across chunk and window edges', () => {
    const row = `${Array.from({ length: 31 }, (_, i) => `"c${i}-12345"`).join(',')}\n`;
    const multiline = `"a\n${'x'.repeat(70_000)}\nb","2"\n`;
    const text = row.repeat(1_000) + multiline.repeat(3);
    const counter = new CsvRecordCounter(kernel);
    const bytes = Buffer.from(text);
    // Chunks larger than the kernel's 64 KiB window and not multiples of 64 bytes.
    for (let from = 0; from < bytes.length; from += 100_003) {
      counter.feed(bytes.subarray(from, from + 100_003));
    }
    expect(counter.records).toBe(1_003);
  });
});

describe('the WebAssembly kernel', () => {
  it('is available on the Node versions the job runs on (20 and 24)', () => {
    expect(wasmKernel).toBeDefined();
  });

  it('is the compiled csv-records.wat (npm run build:wasm after editing it)', async () => {
    const compiled = await compileCsvRecordsWat();
    expect(compiled.toString('base64')).toBe(CSV_RECORDS_WASM_BASE64);
  });
});
