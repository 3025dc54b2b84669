/**
 * Counting RFC-4180 CSV records in a byte stream: the newlines outside quoted values, plus a final
 * record without a newline. Every byte of every slice passes through here, so the scan runs in a
 * WebAssembly SIMD kernel (csv-records.wat, about 8 GB/s against 1 GB/s for the byte loop in
 * JavaScript); the JavaScript loop stays as the fallback and as the reference the tests hold the
 * kernel to.
 */
import { CSV_RECORDS_WASM_BASE64 } from './csv-records-wasm.js';

const QUOTE = 0x22;
const NEWLINE = 0x0a;

/** Counts the newlines outside quotes in `bytes`, starting `inside` quotes or not. */
export interface RecordKernel {
  count(bytes: Uint8Array, inside: boolean): { newlines: number; inside: boolean };
}

/** The byte loop: one pass, quote state carried across calls. */
export const javascriptKernel: RecordKernel = {
  count(bytes, inside) {
    let inQuotes = inside;
    let newlines = 0;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte === QUOTE) inQuotes = !inQuotes;
      else if (byte === NEWLINE && !inQuotes) newlines += 1;
    }
    return { newlines, inside: inQuotes };
  },
};

interface KernelExports {
  readonly memory: WebAssembly.Memory;
  count(end: number, inside: number): number;
  insideAtEnd(): number;
}

/** Bytes copied into the kernel's memory per call (its memory is 2 pages, 128 KiB). */
const WINDOW_BYTES = 64 * 1024;
const BLOCK_BYTES = 64;

/**
 * The SIMD kernel, or undefined where WebAssembly SIMD is missing. One instance serves every
 * counter: calls are synchronous and the quote state lives with the caller.
 */
export function createWasmKernel(): RecordKernel | undefined {
  const binary = Buffer.from(CSV_RECORDS_WASM_BASE64, 'base64');
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(binary)) return undefined;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(binary));
  const kernel = instance.exports as unknown as KernelExports;
  const memory = new Uint8Array(kernel.memory.buffer);
  return {
    count(bytes, inside) {
      let newlines = 0;
      let state = inside ? 1 : 0;
      for (let from = 0; from < bytes.length; from += WINDOW_BYTES) {
        const window = bytes.subarray(from, from + WINDOW_BYTES);
        const end = Math.ceil(window.length / BLOCK_BYTES) * BLOCK_BYTES;
        memory.set(window, 0);
        // Zero padding up to the block edge: neither a quote nor a newline.
        memory.fill(0, window.length, end);
        newlines += kernel.count(end, state);
        state = kernel.insideAtEnd();
      }
      return { newlines, inside: state === 1 };
    },
  };
}

const defaultKernel: RecordKernel = createWasmKernel() ?? javascriptKernel;

/** Counts RFC-4180 records across chunks; a final record without a newline counts too. */
export class CsvRecordCounter {
  #newlines = 0;
  #inQuotes = false;
  #lastByte = NEWLINE;

  constructor(private readonly kernel: RecordKernel = defaultKernel) {}

  feed(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const { newlines, inside } = this.kernel.count(chunk, this.#inQuotes);
    this.#newlines += newlines;
    this.#inQuotes = inside;
    this.#lastByte = chunk[chunk.length - 1] ?? NEWLINE;
  }

  get records(): number {
    return this.#newlines + (this.#lastByte === NEWLINE ? 0 : 1);
  }
}
