/** Binary of src/transfer/csv-records.wat, compiled with SIMD enabled. */
export function compileCsvRecordsWat(): Promise<Buffer>;
export function csvRecordsModuleSource(binary: Buffer): string;
