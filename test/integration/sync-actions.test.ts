import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { listFiles, makeDataDir, removeDir, runCli } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import { TOKENS, platformSeed } from './platform-fixtures.js';

const emulator = useEmulator(platformSeed(Math.floor(Date.now() / 1000)));
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

async function action(name: string, token: string = TOKENS.read, viaCli = false) {
  const dataDir = await makeDataDir({
    parameters: { '#token': token, url: emulator.url, tableName: '' },
    ...(viaCli ? {} : { action: name }),
  });
  dirs.push(dataDir);
  const result = await runCli(viaCli ? ['action', name, '--data', dataDir] : ['--data', dataDir]);
  await expectNoSecrets(
    [...Object.values(TOKENS), ...emulator.control.issuedSecrets()],
    result,
    dataDir,
  );
  expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
  return result;
}

describe('sync actions', () => {
  it.each([
    [
      'list',
      {
        tables: expect.arrayContaining([
          { name: 'orders', primaryKey: ['id'] },
          { name: 'empty', primaryKey: ['id'] },
        ]),
      },
    ],
    ['info', { projectId: 301, projectName: 'Platform source', bucket: 'in.c-sales' }],
    [
      'sourceInfo',
      {
        tables: expect.arrayContaining([{ name: 'customers', primaryKey: ['id'] }]) as unknown,
        project: { projectId: 301, projectName: 'Platform source', bucket: 'in.c-sales' },
      },
    ],
    [
      'testConnection',
      {
        // The shape of the form's validation button (format sync-action), plus the activity.
        status: 'success',
        type: 'success',
        message:
          'The token reads the bucket `in.c-sales` of project `Platform source` (301), read-only.',
        lastActivity: { at: expect.any(String) as unknown, event: 'storage.tokenCreated' },
      },
    ],
  ])('%s prints exactly one JSON document and writes nothing', async (name, expected) => {
    for (const viaCli of [false, true]) {
      const result = await action(name, TOKENS.read, viaCli);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual(expected);
      expect(result.stdout.trim().split('\n')).toHaveLength(1);
    }
  });

  it('fails testConnection with exit 1 and a sentence for a token that is not read-only', async () => {
    const result = await action('testConnection', TOKENS.write);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toMatch(/read-only permissions to the bucket "in\.c-sales"/);
  });

  it('the action command runs sync actions only: "action run" is exit 1 and writes nothing', async () => {
    const run = await action('run', TOKENS.read, true);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      '"run" is not a sync action: copy the tables with "kbc-table-sync run" (or no command).',
    );
    const unknown = await action('plna', TOKENS.read, true);
    expect(unknown.stderr.trim()).toBe(
      'Unknown action "plna": use one of list, info, sourceInfo, testConnection, plan, tableOptions, columnOptions.',
    );
  });

  it('actions that read only the credentials (and the pickers the table) ignore a broken other field', async () => {
    const project = { projectId: 301, projectName: 'Platform source', bucket: 'in.c-sales' };
    const orders = expect.arrayContaining([{ name: 'orders', primaryKey: ['id'] }]) as unknown;
    for (const [name, expected] of [
      ['tableOptions', expect.arrayContaining([expect.objectContaining({ value: 'orders' })])],
      ['columnOptions', expect.arrayContaining([{ value: 'id', label: 'id (primary key)' }])],
      // ex-storage's actions never read changedSince: a broken row still lists the bucket.
      ['list', { tables: orders }],
      ['info', project],
      ['sourceInfo', { tables: orders, project }],
      ['testConnection', expect.objectContaining({ status: 'success' })],
    ] as const) {
      const dataDir = await makeDataDir({
        action: name,
        parameters: {
          '#token': TOKENS.read,
          url: emulator.url,
          tableName: 'orders',
          changedSince: 'last Tuesday-ish',
          primaryKey: 'id',
          incremental: 'yes',
        },
      });
      dirs.push(dataDir);
      const result = await runCli(['--data', dataDir]);
      expect({ name, code: result.code, stderr: result.stderr }).toEqual({
        name,
        code: 0,
        stderr: '',
      });
      expect(JSON.parse(result.stdout)).toEqual(expected);
    }
    // Any other action still reports the field.
    const dataDir = await makeDataDir({
      action: 'plan',
      parameters: {
        '#token': TOKENS.read,
        url: emulator.url,
        tableName: 'orders',
        changedSince: 'last Tuesday-ish',
      },
    });
    dirs.push(dataDir);
    const plan = await runCli(['--data', dataDir]);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain('parameters.changedSince');
  });

  it('exits 1 for an unknown action and lists the valid ones', async () => {
    const result = await action('explode');
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Unknown action "explode": use one of run, list, info, sourceInfo, testConnection, plan, tableOptions, columnOptions.',
    );
  });
});
