import type { SeedInput } from 'keboola-storage-emulator';

/** Tokens of the platform-mode seed (fake, local to the emulator). */
export const TOKENS = {
  read: '301-3001-0000000000000000000000000000000000000001',
  write: '301-3002-0000000000000000000000000000000000000002',
  twoBuckets: '301-3003-0000000000000000000000000000000000000003',
  master: '301-3004-0000000000000000000000000000000000000004',
  expired: '301-3005-0000000000000000000000000000000000000005',
  invalid: '301-3999-0000000000000000000000000000000000000999',
} as const;

export const PROJECT_ID = 301;
const DAY_SECONDS = 86_400;

/** A source project: `orders` in 3 slices, `customers` with metadata, an empty table, events. */
export function platformSeed(nowSeconds: number): SeedInput {
  return {
    projects: [
      {
        id: PROJECT_ID,
        name: 'Platform source',
        fileStorageProvider: 'aws',
        buckets: [
          {
            id: 'in.c-sales',
            tables: [
              {
                name: 'orders',
                columns: ['id', 'customer', 'amount'],
                primaryKey: ['id'],
                generate: { rows: 2_500 },
                sliceRows: 1_000,
                timestamp: nowSeconds - 10 * DAY_SECONDS,
              },
              {
                name: 'customers',
                columns: ['id', 'name', 'note'],
                primaryKey: ['id'],
                rows: [
                  ['1', 'Alice', 'says "hi"'],
                  ['2', 'Bob', 'multi\nline'],
                  ['3', 'Ďábel', 'comma, inside'],
                ],
                metadata: [
                  { key: 'KBC.description', value: 'Customers', provider: 'user' },
                  { key: 'KBC.createdBy.component.id', value: 'x', provider: 'system' },
                ],
                columnMetadata: {
                  id: [
                    { key: 'KBC.datatype.basetype', value: 'INTEGER', provider: 'keboola.ex-db' },
                    { key: 'KBC.datatype.type', value: 'NUMBER', provider: 'storage' },
                  ],
                },
                timestamp: nowSeconds - 10 * DAY_SECONDS,
              },
              { name: 'empty', columns: ['id', 'value'], primaryKey: ['id'] },
              {
                name: 'events',
                columns: ['id', 'kind'],
                primaryKey: ['id'],
                rows: [
                  ['1', 'old'],
                  ['2', 'old'],
                ],
                timestamp: nowSeconds - 3 * DAY_SECONDS,
              },
            ],
          },
          { id: 'in.c-other', tables: [{ name: 'x', columns: ['id'], rows: [['1']] }] },
        ],
        tokens: [
          { token: TOKENS.read, bucketPermissions: { 'in.c-sales': 'read' } },
          { token: TOKENS.write, bucketPermissions: { 'in.c-sales': 'write' } },
          {
            token: TOKENS.twoBuckets,
            bucketPermissions: { 'in.c-sales': 'read', 'in.c-other': 'read' },
          },
          { token: TOKENS.master, isMasterToken: true },
          {
            token: TOKENS.expired,
            bucketPermissions: { 'in.c-sales': 'read' },
            expires: '2020-01-01T00:00:00+0000',
          },
        ],
      },
    ],
  };
}
