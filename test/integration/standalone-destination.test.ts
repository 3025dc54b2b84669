/**
 * The destination token and table checks of standalone mode (docs/architecture.md, Token rules): write on the
 * bucket, a missing bucket created only when the token may, a primary-key mismatch failing the
 * table. Every refusal exits 1 with one clear sentence and imports (and exports) nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { exists, makeDataDir } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import {
  DEST_PROJECT,
  MANAGER_TOKEN,
  READER_TOKEN,
  SOURCE_PROJECT,
  T0_MS,
  WRITER_TOKEN,
  destRows,
  expectNoLeaks,
  exportStarts,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';
import { join } from 'node:path';

const emulator = useEmulator(standaloneSeed());

beforeAll(() => {
  emulator.control.setClock(T0_MS);
});

/** Job starts of one kind in the destination (`tableImport`, `tableCreate`, …). */
function destinationJobStarts(): string[] {
  return Object.keys(emulator.control.stats().jobStarts).filter((k) => k.includes(' in.c-'));
}

describe('destination token', () => {
  it('creates a missing bucket when the token can manage buckets', async () => {
    const { control, url } = emulator;
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'events' }], { token: MANAGER_TOKEN, bucket: 'in.c-fresh' }),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Created the destination bucket \\"in.c-fresh\\"');
    expect(await destRows(control, 'in.c-fresh.events')).toHaveLength(2);
    await expectNoLeaks(control, result, dataDir);
  });

  it.each([
    {
      what: 'a missing bucket and a token that may not create buckets',
      token: WRITER_TOKEN,
      bucket: 'in.c-missing',
      sentence:
        'The destination token has no permission to the bucket "in.c-missing" and may not create buckets',
    },
    {
      what: 'an existing bucket the token has no permission to',
      token: WRITER_TOKEN,
      bucket: 'in.c-other',
      sentence:
        'The destination token has no permission to the bucket "in.c-other" and may not create buckets',
    },
    {
      what: 'a missing bucket whose id lacks the c- that the project adds to new names',
      token: MANAGER_TOKEN,
      bucket: 'in.fresh',
      sentence:
        'The destination bucket "in.fresh" does not exist and cannot be created under that id: the destination project adds "c-" to the names of new buckets, so use "in.c-fresh" instead, or create the bucket first.',
    },
    {
      what: 'a token with read only',
      token: READER_TOKEN,
      bucket: 'in.c-copy',
      sentence:
        'The destination token must have write permission to the bucket "in.c-copy" (it has "read").',
    },
  ])('exits 1 for $what, before anything is exported', async ({ token, bucket, sentence }) => {
    const { control, url } = emulator;
    control.resetStats();
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'orders', destination: 'orders_denied' }], { token, bucket }),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(sentence);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(exportStarts(control)).toEqual({});
    expect(destinationJobStarts()).toEqual([]);
    expect(control.stats().requests['POST /v2/storage/buckets']).toBeUndefined();
    expect(await exists(join(dataDir, 'out', 'state.json'))).toBe(false);
    await expectNoLeaks(control, result, dataDir);
  });
});

describe('every destination bucket and table, before any data moves', () => {
  it('a table going to a bucket the token may not write fails the run before any table is exported; plan says so', async () => {
    const { control, url } = emulator;
    control.resetStats();
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_first' },
        { name: 'events', destination: 'in.c-other.events' },
      ]),
    );
    const plan = await runJob(url, dataDir, ['--dry-run']);
    expect(plan.code).toBe(0);
    const planned = (JSON.parse(plan.stdout) as { tables: { warnings: string[] }[] }).tables;
    expect(planned[0]?.warnings).toEqual([]);
    expect(planned[1]?.warnings.join(' ')).toContain(
      'The destination token has no permission to the bucket "in.c-other"',
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'The destination token has no permission to the bucket "in.c-other" and may not create buckets',
    );
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(exportStarts(control)).toEqual({});
    expect(destinationJobStarts()).toEqual([]);
    await expectNoLeaks(control, result, dataDir);
  });

  it('destination.bucket is checked even when every table names another bucket; plan says so', async () => {
    const { control, url } = emulator;
    control.resetStats();
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'events', destination: 'in.c-copy.events_elsewhere' }], {
        bucket: 'in.c-other',
      }),
    );
    const sentence =
      'The destination token has no permission to the bucket "in.c-other" and may not create buckets';
    const plan = await runJob(url, dataDir, ['--dry-run']);
    expect(plan.code).toBe(0);
    const document = JSON.parse(plan.stdout) as {
      warnings: string[];
      tables: { warnings: string[] }[];
    };
    expect(document.warnings.join(' ')).toContain(
      `A run would stop before copying any table: ${sentence}`,
    );
    expect(document.tables[0]?.warnings).toEqual([]);
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(sentence);
    expect(exportStarts(control)).toEqual({});
  });

  it('refuses to copy a table onto itself (a destination token of the source project), touching nothing', async () => {
    const { control, url } = emulator;
    const selfToken = control.createToken(SOURCE_PROJECT, {
      bucketPermissions: { 'in.c-sales': 'write' },
    });
    control.resetStats();
    const before = await control.tableRows(SOURCE_PROJECT, 'in.c-sales.events');
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'events' }], { token: selfToken, bucket: 'in.c-sales' }),
    );
    const sentence = `The table "in.c-sales.events" would be copied onto itself: the destination token belongs to the source project (${SOURCE_PROJECT}) and the destination table is the source table; set "destination.bucket" (or the table's "destination") to another bucket.`;
    const plan = await runJob(url, dataDir, ['--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(JSON.stringify(sentence).slice(1, -1));
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(sentence);
    expect(exportStarts(control)).toEqual({});
    expect(Object.keys(control.stats().requests).filter((k) => !k.startsWith('GET '))).toEqual([]);
    expect(await control.tableRows(SOURCE_PROJECT, 'in.c-sales.events')).toEqual(before);
    // Another table name in the same project is a copy, not a self-copy.
    const elsewhere = await makeDataDir(
      standaloneConfig(url, [{ name: 'events', destination: 'events_copy' }], {
        token: selfToken,
        bucket: 'in.c-sales',
      }),
    );
    expect((await runJob(url, elsewhere)).code).toBe(0);
    expect(await control.tableRows(SOURCE_PROJECT, 'in.c-sales.events_copy')).toHaveLength(2);
    await expectNoSecrets([selfToken], result, dataDir);
  });
});

describe('destination primary key', () => {
  it('fails the table when the existing table has another key, showing both keys', async () => {
    const { control, url } = emulator;
    await control.createTable(DEST_PROJECT, 'in.c-copy', {
      name: 'orders_pk',
      columns: ['id', 'status', 'amount'],
      primaryKey: ['id'],
      rows: [['1', 'old', '1']],
    });
    control.resetStats();
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        {
          name: 'orders',
          destination: 'orders_pk',
          incremental: true,
          primaryKey: ['id', 'status'],
        },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'The destination table "in.c-copy.orders_pk" has the primary key [id] but the configuration asks for [id, status]',
    );
    expect(exportStarts(control)).toEqual({});
    expect(destinationJobStarts()).toEqual([]);
    expect(await destRows(control, 'in.c-copy.orders_pk')).toEqual([
      { id: '1', status: 'old', amount: '1' },
    ]);
    await expectNoLeaks(control, result, dataDir);
  });
});

describe('destination columns', () => {
  it('fails the table, before exporting, when the destination has columns the export lacks', async () => {
    const { control, url } = emulator;
    await control.createTable(DEST_PROJECT, 'in.c-copy', {
      name: 'orders_cols',
      columns: ['id', 'status', 'amount', 'note'],
      rows: [['1', 'old', '1', 'n']],
    });
    control.resetStats();
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'orders', destination: 'orders_cols' }]),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'The destination table "in.c-copy.orders_cols" has the columns "note" that the export of "in.c-sales.orders" does not contain',
    );
    expect(exportStarts(control)).toEqual({});
    expect(await destRows(control, 'in.c-copy.orders_cols')).toHaveLength(1);
  });

  it('fails the table, before exporting, when a typed destination lacks exported columns', async () => {
    const { control, url } = emulator;
    const column = (name: string) => ({
      name,
      definition: { type: 'VARCHAR', length: '255', nullable: name !== 'id' },
      basetype: 'STRING',
    });
    await control.createTable(DEST_PROJECT, 'in.c-copy', {
      name: 'orders_typed',
      definition: { primaryKeysNames: ['id'], columns: [column('id'), column('status')] },
      rows: [['1', 'old']],
    });
    control.resetStats();
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_typed', incremental: true, primaryKey: ['id'] },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'The typed destination table "in.c-copy.orders_typed" has no columns "amount", which the export of "in.c-sales.orders" contains, and an import adds no columns to a typed table',
    );
    expect(exportStarts(control)).toEqual({});
    expect(await destRows(control, 'in.c-copy.orders_typed')).toHaveLength(1);
  });

  it('adds exported columns an existing untyped table lacks', async () => {
    const { control, url } = emulator;
    await control.createTable(DEST_PROJECT, 'in.c-copy', {
      name: 'orders_grow',
      columns: ['id', 'status'],
      primaryKey: ['id'],
      rows: [['9', 'old']],
    });
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_grow', incremental: true, primaryKey: ['id'] },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(0);
    const rows = await destRows(control, 'in.c-copy.orders_grow');
    expect(rows).toHaveLength(6);
    expect(rows).toContainEqual({ id: '9', status: 'old', amount: '' });
    expect(rows).toContainEqual({ id: '5', status: 'sent', amount: '50' });
  });
});

describe('token privileges the job never uses (docs/tokens.md, Run-time checks)', () => {
  /** The warning lines of a text log. */
  const warningLines = (stdout: string) =>
    stdout.split('\n').filter((line) => line.startsWith('Warning: '));

  it('a run warns once per privilege of each token, with its role, and copies as it would without them', async () => {
    const { control, url } = emulator;
    const granted = {
      componentAccess: ['keboola.ex-db-mysql', 'keboola.wr-google-drive'],
      canCreateJobs: true,
      canManageDevBranches: true,
      canReadAllProjectEvents: true,
    };
    const source = control.createToken(SOURCE_PROJECT, {
      bucketPermissions: { 'in.c-sales': 'read' },
      ...granted,
    });
    const writer = control.createToken(DEST_PROJECT, {
      bucketPermissions: { 'in.c-copy': 'write' },
      ...granted,
    });
    const config = standaloneConfig(
      url,
      [
        { name: 'events', destination: 'events_privileged' },
        { name: 'customers', destination: 'customers_privileged' },
      ],
      { token: writer },
    );
    const parameters = config.parameters as Record<string, unknown>;
    const dataDir = await makeDataDir({ parameters: { ...parameters, '#token': source } });
    const result = await runJob(url, dataDir, ['--log-format', 'text']);
    expect(result.code, result.stderr).toBe(0);
    const privileges = (role: string) => [
      `Warning: The ${role} token may use the components "keboola.ex-db-mysql", "keboola.wr-google-drive" (componentAccess): the job uses none, so a token without component access is safer.`,
      `Warning: The ${role} token can create jobs (canCreateJobs): the job never does, so a token without that privilege is safer.`,
      `Warning: The ${role} token can manage development branches (canManageDevBranches): the job never does, so a token without that privilege is safer.`,
      `Warning: The ${role} token can read all events of the project (canReadAllProjectEvents): the job never does, so a token without that privilege is safer.`,
    ];
    expect(warningLines(result.stdout)).toEqual([
      ...privileges('source'),
      ...privileges('destination'),
    ]);
    expect(await destRows(control, 'in.c-copy.events_privileged')).toHaveLength(2);
    expect(await destRows(control, 'in.c-copy.customers_privileged')).toHaveLength(2);
    await expectNoSecrets([source, writer], result, dataDir);
    await expectNoLeaks(control, result, dataDir);
  });

  it('a run warns about a destination token that expires within 14 days, as about the source token', async () => {
    const { control, url } = emulator;
    // The warning reads this machine's clock; the emulator's own stays at T0, so the token works.
    const expires = new Date(Date.now() + 5 * 86_400_000).toISOString();
    const writer = control.createToken(DEST_PROJECT, {
      bucketPermissions: { 'in.c-copy': 'write' },
      expires,
    });
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'events', destination: 'events_expiring' }], {
        token: writer,
      }),
    );
    const result = await runJob(url, dataDir, ['--log-format', 'text']);
    expect(result.code, result.stderr).toBe(0);
    expect(warningLines(result.stdout)).toEqual([
      expect.stringMatching(
        /^Warning: The destination token expires in about 5 days \(\d{4}-\d\d-\d\dT[\d:]+\+00:00\): create a new one with "kbc-table-sync token create" before scheduled runs fail, as token rotate may keep the expiry\.$/,
      ),
    ]);
    expect(await destRows(control, 'in.c-copy.events_expiring')).toHaveLength(2);
    await expectNoSecrets([writer], result, dataDir);
  });

  it('a run with tokens that hold none of them warns about none', async () => {
    const { control, url } = emulator;
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'events', destination: 'events_plain' }]),
    );
    const result = await runJob(url, dataDir, ['--log-format', 'text']);
    expect(result.code, result.stderr).toBe(0);
    expect(warningLines(result.stdout)).toEqual([]);
    expect(await destRows(control, 'in.c-copy.events_plain')).toHaveLength(2);
    await expectNoLeaks(control, result, dataDir);
  });
});
