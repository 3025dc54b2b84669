/** The generated table the benchmark and the emulator import probe both move. */

/** id + 30 generated columns: about 365 bytes of CSV per row, gzip level 1 about 2.85×. */
export const COLUMNS = [
  'id',
  ...Array.from({ length: 30 }, (_, i) => `c${String(i).padStart(2, '0')}`),
];
export const CSV_BYTES_PER_ROW = 365;
/** About 36 MB of CSV (13 MB gzip) per slice, like a warehouse unload. */
export const SLICE_ROWS = 100_000;
