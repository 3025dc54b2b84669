import { describe, expect, it } from 'vitest';
import {
  configForAction,
  parseConfig,
  runnerDefaultBucket,
} from '../../../src/config/parse-config.js';
import type { Config, ParseResult } from '../../../src/config/types.js';

const TOKEN = '2134-88291-mCkuU3xgVqLzAbcdef';
const DEST_TOKEN = '9999-11111-destinationTokenValue';
const KNOWN_PARAMETER_KEYS =
  '#token, region, url, tables, exclude, destination, parallelism, lagSeconds, debug, tableName, changedSince, incremental, primaryKey, fullSync, extractMetadata, columns, enabled';
const KNOWN_TABLE_KEYS =
  'name, destination, changedSince, incremental, primaryKey, fullSync, columns, extractMetadata, enabled';
const REGION_CHOICES =
  'us-east-1 (us), eu-central-1 (eu), north-europe (azure-eu), europe-west3 (gcp-eu), us-east4 (gcp-us)';
const CHANGED_SINCE_FORMS =
  'use unix seconds, an ISO-8601 date (2025-03-01 or 2025-03-01T10:00:00Z), an expression such as "-1 day", "yesterday 00:00" or "monday last week", or "lastRun" (all forms: docs/configuration.md, changedSince)';

/** config.json exactly as Keboola passes it (docs/storage-api-notes.md, The Common Interface) for one configuration row. */
const EX_STORAGE_ROW = {
  storage: {},
  parameters: {
    '#token': TOKEN,
    url: 'https://connection.eu-central-1.keboola.com/',
    tableName: 'orders',
    changedSince: '-2 days',
    incremental: true,
    primaryKey: ['id'],
    fullSync: false,
    extractMetadata: true,
  },
  image_parameters: {},
  authorization: {},
  action: 'run',
};

/** A small valid tables-form config; tests override `parameters` keys. */
function withParams(
  parameters: Record<string, unknown>,
  root: Record<string, unknown> = {},
): unknown {
  return {
    parameters: { '#token': TOKEN, region: 'eu', tables: [{ name: 'orders' }], ...parameters },
    ...root,
  };
}

function config(result: ParseResult): Config {
  if (!result.ok) throw new Error(`expected a valid config, got: ${result.problems.join(' | ')}`);
  return result.config;
}

function problems(result: ParseResult): readonly string[] {
  if (result.ok) throw new Error('expected problems, got a valid config');
  return result.problems;
}

const ORDERS_DEFAULTS = {
  name: 'orders',
  incremental: false,
  primaryKey: [],
  fullSync: false,
  extractMetadata: false,
  enabled: true,
};

describe('parseConfig: valid configurations', () => {
  it('reads the ex-storage row config of the Common Interface', () => {
    expect(config(parseConfig(EX_STORAGE_ROW))).toEqual({
      action: 'run',
      source: { url: 'https://connection.eu-central-1.keboola.com', token: TOKEN },
      tables: [
        {
          name: 'orders',
          changedSince: {
            kind: 'relative',
            expression: { months: 0, days: -2, seconds: 0 },
            text: '-2 days',
          },
          incremental: true,
          primaryKey: ['id'],
          fullSync: false,
          extractMetadata: true,
          enabled: true,
          // Run-time messages name the row form's own keys (parameters.primaryKey, …).
          configPath: 'parameters',
        },
      ],
      exclude: [],
      parallelism: 4,
      lagSeconds: 300,
      debug: false,
    } satisfies Config);
  });

  it('drops spaces and tabs around a token, as ex-storage did', () => {
    const raw = {
      ...EX_STORAGE_ROW,
      parameters: { ...EX_STORAGE_ROW.parameters, '#token': ` \t${TOKEN} ` },
    };
    expect(config(parseConfig(raw)).source.token).toBe(TOKEN);
  });

  it('reads the tables form with a standalone destination and the runner root keys', () => {
    const raw = {
      action: 'run',
      storage: { output: { default_bucket: 'in.c-keboola-ex-table-sync-123', tables: [] } },
      image_parameters: { something: 1 },
      authorization: {},
      variables_id: '12',
      shared_code_id: null,
      parameters: {
        '#token': TOKEN,
        region: 'azure-eu',
        parallelism: 8,
        lagSeconds: 60,
        debug: 1,
        destination: {
          url: 'https://connection.acme.keboola.com/',
          '#token': DEST_TOKEN,
          bucket: 'in.c-copy',
        },
        tables: [
          {
            name: 'in.c-sales.orders',
            destination: 'out.c-copy.orders_copy',
            changedSince: 'lastRun',
            incremental: 1,
            primaryKey: ['id'],
            columns: ['id', 'amount'],
            extractMetadata: true,
          },
          { name: 'customers', fullSync: true, enabled: false, changedSince: 1740787200 },
        ],
      },
    };
    expect(config(parseConfig(raw))).toEqual({
      action: 'run',
      source: {
        url: 'https://connection.north-europe.azure.keboola.com',
        region: 'north-europe',
        token: TOKEN,
      },
      tables: [
        {
          name: 'in.c-sales.orders',
          destination: 'out.c-copy.orders_copy',
          changedSince: { kind: 'lastRun' },
          incremental: true,
          primaryKey: ['id'],
          fullSync: false,
          columns: ['id', 'amount'],
          extractMetadata: true,
          enabled: true,
        },
        {
          name: 'customers',
          changedSince: { kind: 'absolute', unixSeconds: 1740787200 },
          incremental: false,
          primaryKey: [],
          fullSync: true,
          extractMetadata: false,
          enabled: false,
        },
      ],
      destination: {
        url: 'https://connection.acme.keboola.com',
        token: DEST_TOKEN,
        bucket: 'in.c-copy',
      },
      exclude: [],
      parallelism: 8,
      lagSeconds: 60,
      debug: true,
      defaultBucket: 'in.c-keboola-ex-table-sync-123',
    } satisfies Config);
  });

  it.each([
    ['authoritative', 'authoritative'],
    ['hints', 'hints'],
    ['none', 'none'],
    ['null', null],
  ] as const)('reads storage.output.data_type_support %s', (_name, value) => {
    const parsed = config(
      parseConfig(withParams({}, { storage: { output: { data_type_support: value } } })),
    );
    expect(parsed.dataTypeSupport).toBe(value ?? undefined);
  });

  it.each([
    ['no storage', {}],
    ['storage as []', { storage: [] }],
    ['output as []', { storage: { output: [] } }],
    ['output without the key', { storage: { output: { tables: [] } } }],
  ])('leaves the data type support unset with %s', (_name, root) => {
    expect(config(parseConfig(withParams({}, root))).dataTypeSupport).toBeUndefined();
  });

  it.each([
    ['list', { tableName: '' }],
    ['info', { tableName: '', changedSince: '', incremental: false, primaryKey: [] }],
    ['sourceInfo', {}],
    ['testConnection', { tables: [] }],
    ['plan', { tables: [{ name: 'orders' }] }],
  ])('accepts sync action %s without tables', (action, extra) => {
    const raw = {
      action,
      parameters: { '#token': TOKEN, url: 'https://connection.keboola.com', ...extra },
    };
    expect(config(parseConfig(raw)).action).toBe(action);
  });

  it.each([
    ['region id', { region: 'us-east-4' }, undefined],
    ['region alias', { region: 'gcp-us' }, 'https://connection.us-east4.gcp.keboola.com'],
    [
      'url with trailing slash',
      { region: '', url: 'https://connection.keboola.com/' },
      'https://connection.keboola.com',
    ],
    [
      'region and url that agree',
      { region: 'us', url: 'https://connection.keboola.com/' },
      'https://connection.keboola.com',
    ],
    [
      'single-tenant url',
      { region: undefined, url: 'https://connection.acme.keboola.com' },
      'https://connection.acme.keboola.com',
    ],
    [
      'emulator on 127.0.0.1',
      { region: undefined, url: 'http://127.0.0.1:43210/' },
      'http://127.0.0.1:43210',
    ],
    [
      'emulator on 127.1.2.3',
      { region: undefined, url: 'http://127.1.2.3:8080' },
      'http://127.1.2.3:8080',
    ],
    [
      'emulator on localhost',
      { region: undefined, url: 'http://localhost:8080' },
      'http://localhost:8080',
    ],
    ['emulator on [::1]', { region: undefined, url: 'http://[::1]:8080/' }, 'http://[::1]:8080'],
    [
      'url with a path',
      { region: undefined, url: 'https://proxy.example.com/keboola/' },
      'https://proxy.example.com/keboola',
    ],
  ])('resolves the source from a %s', (_name, endpoint, url) => {
    const result = parseConfig(withParams(endpoint));
    if (url === undefined) {
      expect(problems(result)[0]).toMatch(/^parameters\.region: "us-east-4" is not a known region/);
    } else {
      expect(config(result).source.url).toBe(url);
    }
  });

  it.each([
    [true, true],
    [false, false],
    [1, true],
    [0, false],
  ])('reads boolean %j as %j', (value, expected) => {
    const parsed = config(
      parseConfig(
        withParams({
          debug: value,
          tables: [{ name: 'orders', incremental: value, enabled: value }],
        }),
      ),
    );
    expect([parsed.debug, parsed.tables[0]!.incremental, parsed.tables[0]!.enabled]).toEqual([
      expected,
      expected,
      expected,
    ]);
  });

  it('applies the defaults', () => {
    const parsed = config(parseConfig(withParams({})));
    expect(parsed).toEqual({
      action: 'run',
      source: {
        url: 'https://connection.eu-central-1.keboola.com',
        region: 'eu-central-1',
        token: TOKEN,
      },
      tables: [ORDERS_DEFAULTS],
      exclude: [],
      parallelism: 4,
      lagSeconds: 300,
      debug: false,
    });
  });

  it('reads parameters: [] (PHP empty object) like {}', () => {
    expect(parseConfig({ parameters: [], action: 'list' })).toEqual(
      parseConfig({ parameters: {}, action: 'list' }),
    );
  });

  it('allows the same source copied into two destinations, and a primary key within columns under fullSync', () => {
    const tables = [
      { name: 'orders' },
      { name: 'in.c-sales.orders', destination: 'orders_copy' },
      { name: 'items', columns: ['a'], primaryKey: ['id'], fullSync: true },
    ];
    expect(config(parseConfig(withParams({ tables }))).tables).toHaveLength(3);
  });

  it('ignores primaryKey and incremental under fullSync, even values that could not be used (ex-storage ran them)', () => {
    const keys = { primaryKey: [''], incremental: null };
    const row = (fullSync: boolean) => ({
      ...EX_STORAGE_ROW,
      parameters: { ...EX_STORAGE_ROW.parameters, fullSync, ...keys },
    });
    const { tables } = config(parseConfig(row(true)));
    expect(tables[0]).toMatchObject({ fullSync: true, primaryKey: [], incremental: false });
    const item = { name: 'items', fullSync: true, primaryKey: null, incremental: 'yes' };
    expect(config(parseConfig(withParams({ tables: [item] }))).tables[0]).toMatchObject({
      primaryKey: [],
      incremental: false,
    });
    // Without fullSync the same values stop the run, each named.
    expect(problems(parseConfig(row(false)))).toEqual([
      'parameters.incremental: must be true or false, not null; ex-storage read null as true',
      'parameters.primaryKey[0]: must be a column name, not an empty string',
    ]);
  });
});

describe('parseConfig: problems', () => {
  it.each<[string, unknown, string[]]>([
    [
      'missing #token',
      { parameters: { url: 'https://connection.keboola.com', tableName: 'orders' } },
      ['parameters.#token: is required: set the Storage API token of the source project'],
    ],
    [
      'unknown region',
      withParams({ region: 'mars' }),
      [
        `parameters.region: "mars" is not a known region; use one of ${REGION_CHOICES}, or set "url" for a single-tenant stack`,
      ],
    ],
    [
      'unparseable changedSince in a table item',
      withParams({ tables: [{ name: 'a' }, { name: 'b', changedSince: '-1 eon' }] }),
      [`parameters.tables[1].changedSince: "-1 eon" is not a date; ${CHANGED_SINCE_FORMS}`],
    ],
    [
      'unparseable changedSince in the ex-storage form',
      { parameters: { '#token': TOKEN, region: 'us', tableName: 'orders', changedSince: 'soon' } },
      [`parameters.changedSince: "soon" is not a date; ${CHANGED_SINCE_FORMS}`],
    ],
    [
      'an unknown parameter',
      withParams({ primarykey: ['id'] }),
      [
        `parameters.primarykey: is not a known key (did you mean "primaryKey"?); known keys: ${KNOWN_PARAMETER_KEYS}`,
      ],
    ],
    [
      'a table-only key at the root',
      withParams({ columns: ['id'] }),
      [
        'parameters.columns: belongs in an item of "tables"; at the root "columns" is only for the single-table form with "tableName"',
      ],
    ],
    [
      'an unknown table key',
      withParams({ tables: [{ name: 'orders', incremenal: true }] }),
      [
        `parameters.tables[0].incremenal: is not a known key (did you mean "incremental"?); known keys: ${KNOWN_TABLE_KEYS}`,
      ],
    ],
    [
      'both forms',
      withParams({ tableName: 'orders', incremental: true }),
      [
        'parameters: use either "tables" or the single-table keys (tableName, incremental), not both',
      ],
    ],
    [
      'run without tables',
      { parameters: { '#token': TOKEN, region: 'us' } },
      [
        'parameters.tables: is missing; action "run" needs at least one table, e.g. "tables": [{"name": "orders"}] (or set "tableName")',
      ],
    ],
    [
      'run with an empty tables list',
      withParams({ tables: [] }),
      [
        'parameters.tables: is empty; action "run" needs at least one table, e.g. [{"name": "orders"}]',
      ],
    ],
    [
      'run with the ex-storage default tableName ""',
      {
        action: 'run',
        parameters: { '#token': TOKEN, region: 'us', tableName: '', changedSince: '' },
      },
      [
        'parameters.tableName: is empty; action "run" needs a table: name it (e.g. "orders"), or list tables in "tables"',
      ],
    ],
    [
      'run with single-table keys but no tableName',
      { parameters: { '#token': TOKEN, region: 'us', incremental: true } },
      [
        'parameters.tableName: is missing; action "run" needs a table: name it (e.g. "orders"), or list tables in "tables"',
      ],
    ],
    [
      'neither region nor url',
      withParams({ region: undefined }),
      [
        `parameters.region: is required: set "region" to one of ${REGION_CHOICES}, or "url" to the stack URL such as https://connection.keboola.com`,
      ],
    ],
    [
      'region and url that disagree',
      withParams({ region: 'eu', url: 'https://connection.keboola.com/' }),
      [
        'parameters.url: "https://connection.keboola.com" is not the stack of region "eu-central-1" (https://connection.eu-central-1.keboola.com); set only one of "region" and "url", or make them agree',
      ],
    ],
    [
      'a single-tenant url with a region',
      withParams({ region: 'us', url: 'https://connection.acme.keboola.com' }),
      [
        'parameters.url: "https://connection.acme.keboola.com" is not the stack of region "us-east-1" (https://connection.keboola.com); set only one of "region" and "url", or make them agree',
      ],
    ],
    [
      'http to a remote host',
      withParams({ region: undefined, url: 'http://connection.keboola.com' }),
      [
        'parameters.url: must use https://; http:// is allowed only for a local emulator (127.0.0.1, localhost, [::1])',
      ],
    ],
    [
      'a url that is not a URL',
      withParams({ region: undefined, url: 'connection.keboola.com' }),
      ['parameters.url: is not a URL; use the stack URL such as https://connection.keboola.com'],
    ],
    [
      'another scheme',
      withParams({ region: undefined, url: 'ftp://connection.keboola.com' }),
      ['parameters.url: must start with https://, e.g. https://connection.keboola.com'],
    ],
    [
      'credentials in the url (never echoed)',
      withParams({ region: undefined, url: 'https://user:s3cr3t-pass@connection.keboola.com' }),
      ['parameters.url: must not contain a user name or password; the token goes into "#token"'],
    ],
    [
      'a query in the url',
      withParams({ region: undefined, url: 'https://connection.keboola.com/?x=1' }),
      [
        'parameters.url: must not have a query or a fragment; use the stack URL such as https://connection.keboola.com',
      ],
    ],
    [
      'a url of the wrong type',
      withParams({ region: undefined, url: 42 }),
      ['parameters.url: must be a string such as https://connection.keboola.com, not a number'],
    ],
    [
      'an empty token',
      withParams({ '#token': '' }),
      ['parameters.#token: must not be empty; set the Storage API token'],
    ],
    [
      'a token that is not a string',
      withParams({ '#token': 12345 }),
      ['parameters.#token: must be a string (the Storage API token), not a number'],
    ],
    [
      'a token with a line break',
      withParams({ '#token': `${TOKEN}\n` }),
      ['parameters.#token: contains whitespace; paste the token without spaces or line breaks'],
    ],
    [
      'ex-storage nulls, which it read as true and []',
      withParams({ tables: [{ name: 'orders', incremental: null, primaryKey: null }] }),
      [
        'parameters.tables[0].incremental: must be true or false, not null; ex-storage read null as true',
        'parameters.tables[0].primaryKey: must be a list of column names such as ["id"], not null; ex-storage read null as []',
      ],
    ],
    [
      'a token of spaces only',
      withParams({ '#token': ' \t ' }),
      ['parameters.#token: must not be empty; set the Storage API token'],
    ],
    [
      'an encrypted token',
      withParams({ '#token': 'KBC::ProjectSecure::eJwxyz' }),
      [
        'parameters.#token: is still encrypted (KBC::...Secure::); outside Keboola give the plain token',
      ],
    ],
    [
      'a table name with two parts',
      withParams({ tables: [{ name: 'c-sales.orders' }] }),
      [
        'parameters.tables[0].name: "c-sales.orders" is neither a table name nor a full table id; use "orders" or "in.c-sales.orders"',
      ],
    ],
    [
      'a table name with an empty part',
      withParams({ tables: [{ name: 'in..orders' }] }),
      [
        'parameters.tables[0].name: "in..orders" is neither a table name nor a full table id; use "orders" or "in.c-sales.orders"',
      ],
    ],
    [
      'a table without a name',
      withParams({ tables: [{}] }),
      ['parameters.tables[0].name: is required: the table to copy, e.g. "orders"'],
    ],
    [
      'an empty table name',
      withParams({ tables: [{ name: '' }] }),
      ['parameters.tables[0].name: must not be empty; use a value such as "orders"'],
    ],
    [
      'a table item that is a string',
      withParams({ tables: ['orders'] }),
      ['parameters.tables[0]: must be an object such as {"name": "orders"}, not a string'],
    ],
    [
      'tables that is an object',
      withParams({ tables: { name: 'orders' } }),
      ['parameters.tables: must be a list of tables such as [{"name": "orders"}], not an object'],
    ],
    [
      'a destination with a bad stage',
      withParams({ tables: [{ name: 'orders', destination: 'sys.c-x.orders' }] }),
      [
        'parameters.tables[0].destination: "sys.c-x.orders" is neither a table name (no dots) nor a full table id such as "in.c-copy.orders"',
      ],
    ],
    [
      'a destination with two parts',
      withParams({ tables: [{ name: 'orders', destination: 'c-x.orders' }] }),
      [
        'parameters.tables[0].destination: "c-x.orders" is neither a table name (no dots) nor a full table id such as "in.c-copy.orders"',
      ],
    ],
    [
      'duplicate tables',
      withParams({ tables: [{ name: 'orders' }, { name: 'in.c-sales.orders' }] }),
      [
        'parameters.tables[1]: repeats tables[0] (same table, same destination "orders"); remove one of them',
      ],
    ],
    [
      'two tables into one destination',
      withParams({ tables: [{ name: 'orders' }, { name: 'orders_2024', destination: 'orders' }] }),
      [
        'parameters.tables[1]: copies into "orders" like tables[0]; give one of them another "destination"',
      ],
    ],
    [
      'a short name and its full id in the destination bucket',
      withParams({
        destination: { region: 'eu', '#token': DEST_TOKEN, bucket: 'in.c-copy' },
        tables: [
          { name: 'customers', destination: 'in.c-copy.dupe' },
          { name: 'products', destination: 'dupe' },
        ],
      }),
      [
        'parameters.tables[1]: copies into "in.c-copy.dupe" like tables[0]; give one of them another "destination"',
      ],
    ],
    [
      'a short name and its full id in storage.output.default_bucket',
      withParams(
        {
          tables: [
            { name: 'orders', destination: 'in.c-mine.orders' },
            { name: 'returns', destination: 'orders' },
          ],
        },
        { storage: { output: { default_bucket: 'in.c-mine' } } },
      ),
      [
        'parameters.tables[1]: copies into "in.c-mine.orders" like tables[0]; give one of them another "destination"',
      ],
    ],
    [
      'destinations that differ only in case',
      withParams({ tables: [{ name: 'orders' }, { name: 'returns', destination: 'Orders' }] }),
      [
        'parameters.tables[1]: copies into "Orders" like tables[0] (as "orders"); give one of them another "destination"',
      ],
    ],
    [
      'a primary key outside columns',
      withParams({
        tables: [{ name: 'orders', columns: ['amount'], primaryKey: ['id', 'amount'] }],
      }),
      [
        'parameters.tables[0].primaryKey: "id" not in "columns"; every primary key column must be copied',
      ],
    ],
    [
      'empty columns',
      withParams({ tables: [{ name: 'orders', columns: [] }] }),
      [
        'parameters.tables[0].columns: is empty; list the columns to copy, or leave it out to copy all',
      ],
    ],
    [
      'a column listed twice',
      withParams({ tables: [{ name: 'orders', columns: ['id', 'a', 'id'] }] }),
      ['parameters.tables[0].columns[2]: "id" is listed twice; list each column once'],
    ],
    [
      'a primary key as a string',
      withParams({ tables: [{ name: 'orders', primaryKey: 'id' }] }),
      [
        'parameters.tables[0].primaryKey: must be a list of column names such as ["id"], not a string',
      ],
    ],
    [
      'a primary key with an empty name and a number',
      withParams({ tables: [{ name: 'orders', primaryKey: ['', 7] }] }),
      [
        'parameters.tables[0].primaryKey[0]: must be a column name, not an empty string',
        'parameters.tables[0].primaryKey[1]: must be a column name, not a number',
      ],
    ],
    [
      'a boolean as a string',
      withParams({ tables: [{ name: 'orders', incremental: 'true' }] }),
      [
        'parameters.tables[0].incremental: must be true or false, not a string (write it without quotes)',
      ],
    ],
    [
      'a boolean as 2',
      withParams({ debug: 2 }),
      ['parameters.debug: must be true or false, not a number'],
    ],
    [
      'lagSeconds -1',
      withParams({ lagSeconds: -1 }),
      ['parameters.lagSeconds: must be a whole number of seconds from 0 to 86400'],
    ],
    [
      'lagSeconds 86401',
      withParams({ lagSeconds: 86_401 }),
      ['parameters.lagSeconds: must be a whole number of seconds from 0 to 86400'],
    ],
    [
      'lagSeconds "300"',
      withParams({ lagSeconds: '300' }),
      [
        'parameters.lagSeconds: must be a whole number of seconds from 0 to 86400, not a string (write it without quotes)',
      ],
    ],
    [
      'parallelism 0',
      withParams({ parallelism: 0 }),
      ['parameters.parallelism: must be a whole number from 1 to 32'],
    ],
    [
      'parallelism 33',
      withParams({ parallelism: 33 }),
      ['parameters.parallelism: must be a whole number from 1 to 32'],
    ],
    [
      'parallelism 1.5',
      withParams({ parallelism: 1.5 }),
      ['parameters.parallelism: must be a whole number from 1 to 32'],
    ],
    [
      'parallelism "4"',
      withParams({ parallelism: '4' }),
      [
        'parameters.parallelism: must be a whole number from 1 to 32, not a string (write it without quotes)',
      ],
    ],
    [
      'parallelism "four"',
      withParams({ parallelism: 'four' }),
      ['parameters.parallelism: must be a whole number from 1 to 32, not a string'],
    ],
    [
      'a destination that is a string',
      withParams({ destination: 'in.c-copy.orders' }),
      [
        'parameters.destination: must be an object {"region" or "url", "#token", "bucket"} naming the destination project, not a string; a table\'s destination name goes into an item of "tables"',
      ],
    ],
    [
      'an incomplete destination',
      withParams({
        destination: { url: 'https://connection.keboola.com', bucket: 'c-copy', extra: 1 },
      }),
      [
        'parameters.destination.extra: is not a known key; known keys: region, url, #token, bucket',
        'parameters.destination.#token: is required: set the Storage API token of the destination project',
        'parameters.destination.bucket: must be a bucket id such as "in.c-copy" (stage in or out, a dot, the bucket name)',
      ],
    ],
    [
      'a destination without bucket and endpoint',
      withParams({ destination: { '#token': DEST_TOKEN } }),
      [
        `parameters.destination.region: is required: set "region" to one of ${REGION_CHOICES}, or "url" to the stack URL such as https://connection.keboola.com`,
        'parameters.destination.bucket: is required: set a bucket id such as "in.c-copy" (stage in or out, a dot, the bucket name)',
      ],
    ],
    [
      'an unknown action',
      withParams({}, { action: 'sync' }),
      [
        'action: "sync" is not a known action; use one of run, list, info, sourceInfo, testConnection, plan, tableOptions, columnOptions',
      ],
    ],
    [
      'an action that is not a string',
      withParams({}, { action: 5 }),
      [
        'action: a number is not a known action; use one of run, list, info, sourceInfo, testConnection, plan, tableOptions, columnOptions',
      ],
    ],
    [
      'parameters that is a string',
      { parameters: 'x' },
      [
        'parameters: must be an object with "#token", "region" or "url", and the tables; not a string',
      ],
    ],
    [
      'a root that is a list',
      [1, 2],
      [
        'parameters: is missing; config.json must be a JSON object with a "parameters" object, not a list',
      ],
    ],
    [
      'an odd unknown key',
      withParams({ 'a b': 1 }),
      [`parameters["a b"]: is not a known key; known keys: ${KNOWN_PARAMETER_KEYS}`],
    ],
    [
      'an unknown data type support',
      withParams({}, { storage: { output: { data_type_support: 'strict' } } }),
      [
        'storage.output.data_type_support: "strict" is not a data type support; use one of authoritative, hints, none, or leave it out',
      ],
    ],
    [
      'a data type support that is no string',
      withParams({}, { storage: { output: { data_type_support: true } } }),
      [
        'storage.output.data_type_support: true is not a data type support; use one of authoritative, hints, none, or leave it out',
      ],
    ],
  ])('reports %s', (_name, raw, expected) => {
    expect(problems(parseConfig(raw))).toEqual(expected);
  });

  it('reports every problem at once, each with its path', () => {
    const raw = {
      action: 'run',
      parameters: {
        url: 'http://example.com',
        region: 'eu',
        parallelism: 100,
        debug: 'yes',
        destination: { region: 'moon', '#token': DEST_TOKEN, bucket: 'in.c-x' },
        tables: [
          { name: 'orders', changedSince: '-1 eon', primaryKey: ['id', 'id'] },
          { name: 'a.b', fullSync: 'false', enabled: null },
          { name: 'orders', destination: 'in.bad' },
          7,
        ],
        bogus: true,
      },
    };
    expect(problems(parseConfig(raw))).toEqual([
      `parameters.bogus: is not a known key; known keys: ${KNOWN_PARAMETER_KEYS}`,
      'parameters.#token: is required: set the Storage API token of the source project',
      'parameters.url: must use https://; http:// is allowed only for a local emulator (127.0.0.1, localhost, [::1])',
      `parameters.tables[0].changedSince: "-1 eon" is not a date; ${CHANGED_SINCE_FORMS}`,
      'parameters.tables[0].primaryKey[1]: "id" is listed twice; list each column once',
      'parameters.tables[1].name: "a.b" is neither a table name nor a full table id; use "orders" or "in.c-sales.orders"',
      'parameters.tables[1].fullSync: must be true or false, not a string (write it without quotes)',
      'parameters.tables[1].enabled: must be true or false, not null; ex-storage read null as true',
      'parameters.tables[2].destination: "in.bad" is neither a table name (no dots) nor a full table id such as "in.c-copy.orders"',
      'parameters.tables[3]: must be an object such as {"name": "orders"}, not a number',
      `parameters.destination.region: "moon" is not a known region; use one of ${REGION_CHOICES}, or set "url" for a single-tenant stack`,
      'parameters.parallelism: must be a whole number from 1 to 32',
      'parameters.debug: must be true or false, not a string',
    ]);
  });

  it('never shows a token, even when it was pasted into another field', () => {
    const raw = withParams({
      region: TOKEN,
      tables: [{ name: 'orders', changedSince: TOKEN, [TOKEN]: 1 }],
      destination: {
        url: `https://x.keboola.com/${DEST_TOKEN}?a`,
        '#token': DEST_TOKEN,
        bucket: DEST_TOKEN,
      },
    });
    const text = problems(parseConfig(raw)).join('\n');
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(DEST_TOKEN);
    expect(text).toContain('parameters.region: a hidden value is not a known region');
    expect(text).toContain('parameters.tables[0][a hidden key]: is not a known key');
  });

  it('refuses a url whose path holds the token or a token-shaped value, without showing it', () => {
    const storageToken = '4242-67319-ca11ab1eca11ab1e00000000000000000000000b';
    const secretPart = 'ca11ab1eca11ab1e00000000000000000000000b';
    const other = '7-8-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCD';
    for (const url of [
      `http://127.0.0.1:8080/${storageToken}`,
      `https://connection.keboola.com/x${secretPart}`,
      `https://connection.keboola.com/${other.replace(/-/g, '%2D')}`,
    ]) {
      const parameters = { '#token': storageToken, url, tables: [{ name: 'orders' }] };
      const text = problems(parseConfig({ parameters }));
      expect(text).toEqual([
        `parameters.url: is a hidden value: it holds a secret of config.json (a "#" value, or the part of a token after its two ids) or a token, and the stack URL is written into the state file and the destination tables' records; write the stack URL here, such as https://connection.keboola.com, and the token only in "#token"`,
      ]);
      expect(text.join('\n')).not.toContain(secretPart);
    }
  });

  it("refuses a name that holds a # value or a token's secret part, without showing it", () => {
    const storageToken = '4242-67319-ca11ab1eca11ab1e00000000000000000000000b';
    const secretPart = 'ca11ab1eca11ab1e00000000000000000000000b';
    const raw = {
      parameters: {
        '#token': storageToken,
        region: 'eu',
        tables: [
          { name: secretPart },
          { name: 'orders', destination: `c_${secretPart}` },
          { name: 'items', columns: ['id', 'NotTokenShapedApiKey1'], primaryKey: ['id'] },
          { name: 'lines', primaryKey: [`x${secretPart}`] },
          { name: 'notes', columns: ['id', '1-2-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCD'] },
        ],
      },
      image_parameters: { '#apiKey': 'NotTokenShapedApiKey1' },
    };
    const text = problems(parseConfig(raw));
    const why = (what: string) =>
      `is a hidden value: it holds a secret of config.json (a "#" value, or the part of a token after its two ids) or looks like a token, and a ${what} name ends up in file names, manifests and state keys; write the ${what} name here, and secrets only under "#" keys`;
    expect(text).toEqual([
      `parameters.tables[0].name: ${why('table')}`,
      `parameters.tables[1].destination: ${why('table')}`,
      `parameters.tables[2].columns[1]: ${why('column')}`,
      `parameters.tables[3].primaryKey[0]: ${why('column')}`,
      `parameters.tables[4].columns[1]: ${why('column')}`,
    ]);
  });

  it("refuses a destination bucket or the runner's default bucket that holds a # value, a token's secret part or a token, without showing it", () => {
    const storageToken = '4242-67319-ca11ab1eca11ab1e00000000000000000000000b';
    const secretPart = 'ca11ab1eca11ab1e00000000000000000000000b';
    const config = (bucket: string, defaultBucket: string) => ({
      storage: { output: { default_bucket: defaultBucket } },
      parameters: {
        '#token': storageToken,
        region: 'eu',
        tables: [{ name: 'orders' }],
        destination: { '#token': storageToken, region: 'eu', bucket },
      },
      image_parameters: { '#password': 'NotTokenShapedPassword1' },
    });
    const why =
      'is a hidden value: it holds a secret of config.json (a "#" value, or the part of a token after its two ids) or looks like a token, and a bucket name ends up in table ids and state keys; write the bucket name here, and secrets only under "#" keys';
    for (const [bucket, defaultBucket] of [
      ['in.c-NotTokenShapedPassword1', `in.c-${secretPart}`],
      [`out.c-${secretPart}`, 'in.c-NotTokenShapedPassword1'],
    ] as const) {
      const text = problems(parseConfig(config(bucket, defaultBucket)));
      expect(text).toEqual([
        `parameters.destination.bucket: ${why}`,
        `storage.output.default_bucket: ${why}`,
      ]);
    }
    expect(problems(parseConfig(config('in.c-copy', 'in.c-1-2-' + 'A'.repeat(40))))).toEqual([
      `storage.output.default_bucket: ${why}`,
    ]);
    // The runner's default bucket stays lenient otherwise: a plain one is taken, a non-string ignored.
    const plain = parseConfig(config('in.c-copy', 'in.c-keboola-ex-table-sync-123'));
    expect(plain.ok && plain.config.defaultBucket).toBe('in.c-keboola-ex-table-sync-123');
    const odd = { ...config('in.c-copy', ''), storage: { output: { default_bucket: 42 } } };
    expect(parseConfig(odd).ok).toBe(true);
  });
});

describe('configForAction: each sync action checks only the keys it reads', () => {
  const broken = {
    action: 'x',
    storage: { output: { default_bucket: 'in.c-x' } },
    parameters: {
      '#token': TOKEN,
      url: 'https://connection.keboola.com',
      debug: true,
      tableName: 'orders',
      changedSince: '-1 eon',
      primaryKey: 'id',
      destination: { bucket: 'nope' },
      oddKey: 1,
    },
  };

  it.each(['list', 'info', 'sourceInfo', 'testConnection'])(
    '%s reads the source credentials and debug only',
    (action) => {
      expect(configForAction(broken, action)).toEqual({
        ...broken,
        parameters: { '#token': TOKEN, url: 'https://connection.keboola.com', debug: true },
      });
      expect(parseConfig({ ...(configForAction(broken, action) as object), action }).ok).toBe(true);
    },
  );

  it.each(['tableOptions', 'columnOptions'])('%s also reads the table', (action) => {
    expect(configForAction(broken, action)).toEqual({
      ...broken,
      parameters: {
        '#token': TOKEN,
        url: 'https://connection.keboola.com',
        debug: true,
        tableName: 'orders',
      },
    });
  });

  it.each(['run', 'plan'])('%s reads everything, so it reports every problem', (action) => {
    expect(configForAction(broken, action)).toBe(broken);
    expect(problems(parseConfig({ ...broken, action }))).toContain(
      `parameters.changedSince: "-1 eon" is not a date; ${CHANGED_SINCE_FORMS}`,
    );
  });

  it('keeps what is not an object as it is, for parseConfig to report', () => {
    expect(configForAction([], 'list')).toEqual([]);
    expect(configForAction({ parameters: 3 }, 'list')).toEqual({ parameters: 3 });
  });
});

describe('runnerDefaultBucket', () => {
  it('names the bucket as the runner does, from the component and configuration ids', () => {
    expect(
      runnerDefaultBucket({ KBC_COMPONENTID: 'keboola.ex-table-sync', KBC_CONFIGID: '12' }),
    ).toBe('in.c-keboola-ex-table-sync-12');
    expect(runnerDefaultBucket({ KBC_COMPONENTID: 'kds-team.ex_x', KBC_CONFIGID: '9' })).toBe(
      'in.c-kds-team-ex-x-9',
    );
    expect(runnerDefaultBucket({ KBC_CONFIGID: '12' })).toBeUndefined();
    expect(runnerDefaultBucket({ KBC_COMPONENTID: 'a.b', KBC_CONFIGID: '' })).toBeUndefined();
  });

  it('refuses an id that holds a secret of config.json or looks like a token, naming the variable', () => {
    const token = '101-1001-5ea1e5f0c0ffee00000000000000000000000001';
    const raw = {
      parameters: { '#token': token },
      image_parameters: { '#password': 'Hunter2Secret' },
    };
    const cases = [
      [{ KBC_COMPONENTID: token, KBC_CONFIGID: '1' }, 'KBC_COMPONENTID'],
      [{ KBC_COMPONENTID: 'a.b', KBC_CONFIGID: 'Hunter2Secret' }, 'KBC_CONFIGID'],
    ] as const;
    for (const [env, name] of cases) {
      let message = '';
      try {
        runnerDefaultBucket(env, raw);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(new RegExp(`^${name} holds a secret of config\\.json`));
      expect(message).not.toContain('Hunter2Secret');
      expect(message).not.toContain('5ea1e5f0');
    }
  });
});
