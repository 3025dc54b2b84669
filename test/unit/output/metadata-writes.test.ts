import { describe, expect, it } from 'vitest';
import { COLUMNS_PER_METADATA_WRITE, metadataWrites } from '../../../src/output/project-writer.js';

const item = (value: string) => [{ key: 'KBC.description', value }];
const columnsOf = (count: number) =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`c${i}`, item(`column ${i}`)]));

describe('metadata writes of a copied table (standalone extractMetadata)', () => {
  it('splits a wide table into writes of at most 50 columns, the table items in the first', () => {
    expect(COLUMNS_PER_METADATA_WRITE).toBe(50);
    const writes = metadataWrites('ex-db', { table: item('orders'), columns: columnsOf(120) });
    expect(writes.map((w) => Object.keys(w.columnsMetadata ?? {}).length)).toEqual([50, 50, 20]);
    expect(writes.map((w) => w.metadata)).toEqual([item('orders'), [], []]);
    expect(writes.every((w) => w.provider === 'ex-db')).toBe(true);
    const written = writes.flatMap((w) => Object.keys(w.columnsMetadata ?? {}));
    expect(written).toEqual(Object.keys(columnsOf(120)));
  });

  it('writes the table items alone, or 50 columns, in one request', () => {
    expect(metadataWrites('p', { table: item('t'), columns: {} })).toEqual([
      { provider: 'p', metadata: item('t'), columnsMetadata: {} },
    ]);
    expect(metadataWrites('p', { table: [], columns: columnsOf(50) })).toHaveLength(1);
  });
});
