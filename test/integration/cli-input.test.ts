/**
 * Bad command-line and environment input (docs/configuration.md, "The command line"): exit 1 with
 * one sentence naming the flag, key or variable at fault, never a stack trace, and never a piece of
 * a secret, even when the bad value is itself a token.
 */
import { describe, expect, it } from 'vitest';
import { makeDataDir, runCli, type CliResult } from '../helpers/run-cli.js';
import { SOURCE_TOKEN } from '../helpers/standalone.js';

/** The forms a token could leak in, whole or cut: plain, without dashes, and its first 20 characters. */
function tokenPieces(token: string): string[] {
  const secretPart = token.split('-').at(-1) ?? token;
  return [token, token.replaceAll('-', ''), token.slice(0, 20), secretPart.slice(0, 12)];
}

/** Exit 1, one line on stderr, no stack trace, and no piece of `secret` anywhere. */
function expectUserError(result: CliResult, secret?: string): string {
  expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 1, stdout: '' });
  const sentence = result.stderr.trimEnd();
  expect(sentence.split('\n')).toHaveLength(1);
  expect(sentence).not.toMatch(/\n\s+at |TypeError|ERR_/);
  for (const piece of secret ? tokenPieces(secret) : []) {
    expect(result.stdout + result.stderr).not.toContain(piece);
  }
  return sentence;
}

describe('a token given where the command line expects something else is never shown', () => {
  it('as the action name on the command line', async () => {
    const dataDir = await makeDataDir({});
    const result = await runCli(['action', SOURCE_TOKEN, '--data', dataDir]);
    expect(expectUserError(result, SOURCE_TOKEN)).toMatch(/^Unknown action "\[hidden\]"/);
  });

  it('as the action of config.json, also inside a longer value', async () => {
    for (const action of [SOURCE_TOKEN, `some words before the token ${SOURCE_TOKEN}`]) {
      const dataDir = await makeDataDir({ action });
      const result = await runCli(['--data', dataDir]);
      expect(expectUserError(result, SOURCE_TOKEN)).toMatch(/^Unknown action "/);
    }
  });

  it('as a # value of config.json used as the action', async () => {
    const password = 'a-long-password-that-is-not-token-shaped-0123456789';
    const dataDir = await makeDataDir({ action: password, parameters: { '#password': password } });
    const result = await runCli(['--data', dataDir]);
    expectUserError(result);
    expect(result.stderr).not.toContain(password.slice(0, 20));
  });

  it('as the value of --shard', async () => {
    for (const args of [['--shard', SOURCE_TOKEN], [`--shard=x ${SOURCE_TOKEN}`]]) {
      const result = await runCli(args);
      expect(expectUserError(result, SOURCE_TOKEN)).toMatch(/^--shard /);
    }
  });

  it('as a flag or an unknown argument, in whatever form the parser turns it into', async () => {
    for (const args of [
      [`--${SOURCE_TOKEN}`],
      [`--${SOURCE_TOKEN}=1`],
      [`--x-${SOURCE_TOKEN}`],
      ['run', SOURCE_TOKEN],
      ['token', 'inspect', `--${SOURCE_TOKEN}`],
    ]) {
      const result = await runCli(args);
      expect(expectUserError(result, SOURCE_TOKEN)).toMatch(/^Unknown argument/);
    }
  });

  it('as the value of --expires-in', async () => {
    const result = await runCli(
      ['token', 'create', '--bucket', 'in.c-a', '--expires-in', SOURCE_TOKEN],
      {
        env: { KBC_MASTER_TOKEN: '101-1000-5ea1e5f0c0ffee00000000000000000000000000' },
      },
    );
    expect(expectUserError(result, SOURCE_TOKEN)).toMatch(/^--expires-in /);
  });
});

describe('a flag that takes one value, given twice', () => {
  it.each([
    [['--data', 'a', '--data', 'a'], '--data'],
    [['--shard', '0/2', '--shard', '1/2'], '--shard'],
    [['--summary-file', 'a', '--summary-file', 'b'], '--summary-file'],
    [['--log-format', 'text', '--log-format', 'json'], '--log-format'],
    [['--shard=0/1', '--no-shard'], '--shard'],
    [['action', 'list', '--data', 'a', '--data', 'b'], '--data'],
    [['action', 'list', '--shard', '0/2', '--shard', '0/2'], '--shard'],
    [['token', 'inspect', '--data', 'a', '--data', 'b'], '--data'],
    [['token', 'create', '--bucket', 'in.c-a', '--bucket', 'in.c-b'], '--bucket'],
    [
      ['token', 'create', '--bucket', 'in.c-a', '--description', 'a', '--description', 'b'],
      '--description',
    ],
  ])('%j is exit 1 naming %s', async (args, flag) => {
    const sentence = expectUserError(await runCli(args));
    expect(sentence).toMatch(new RegExp(`^${flag} is given twice: give it once\\.`));
  });
});

describe('a flag without its value', () => {
  it.each([
    [['--table'], '--table'],
    [['--table='], '--table'],
    [['--table', ''], '--table'],
    [['--table', 'orders', '--table='], '--table'],
    [['--full-refresh'], '--full-refresh'],
    [['--full-refresh='], '--full-refresh'],
    [['--no-table'], '--table'],
    [['--data'], '--data'],
    [['--data='], '--data'],
    [['--shard'], '--shard'],
    [['--no-shard'], '--shard'],
    [['--summary-file'], '--summary-file'],
    [['action', 'list', '--table'], '--table'],
    [['token', 'inspect', '--data'], '--data'],
    [['token', 'create', '--bucket'], '--bucket'],
  ])('%j is exit 1 naming %s', async (args, flag) => {
    expect(expectUserError(await runCli(args))).toMatch(new RegExp(`^${flag} needs `));
  });
});

describe('arguments after --', () => {
  it('are exit 1 naming the flags, before the configuration is read: never a run of every table', async () => {
    const dataDir = await makeDataDir({});
    const result = await runCli(['--data', dataDir, '--', '--table', 'customers', '--dry-run']);
    expect(expectUserError(result)).toBe(
      'Arguments after -- are not read: --table, --dry-run and 1 other argument; remove the --, or the arguments after it. Run "kbc-table-sync --help" for usage.',
    );
  });
});

describe('a switch given a value', () => {
  it.each([
    [['--dry-run=maybe'], '--dry-run'],
    [['--dryRun=maybe'], '--dry-run'],
    [['--full-refresh-all=nope'], '--full-refresh-all'],
    [['--no-dry-run=1'], '--dry-run'],
    [['token', 'revoke', '--yes=please'], '--yes'],
    [['token', 'inspect', '--json=yes'], '--json'],
  ])('%j is exit 1 naming %s', async (args, flag) => {
    expect(expectUserError(await runCli(args))).toMatch(
      new RegExp(`^${flag} is a switch: give it without a value`),
    );
  });

  it.each([
    [['--dry-run', '--no-dry-run'], '--dry-run'],
    [['--dryRun', '--dry-run=false'], '--dry-run'],
    [['--no-full-refresh-all', '--full-refresh-all=true'], '--full-refresh-all'],
  ])('%j, on and off, is exit 1 naming %s: never the last one silently', async (args, flag) => {
    expect(expectUserError(await runCli([...args, '--table', 'customers']))).toMatch(
      new RegExp(`^${flag} is given both on and off: give it once, or leave it out\\.`),
    );
  });

  it('true and false are still values a switch takes', async () => {
    const dataDir = await makeDataDir({});
    for (const args of [['--dry-run=true'], ['--dry-run=false'], ['--dry-run', '--dry-run']]) {
      const result = await runCli([...args, '--data', dataDir]);
      // Past the command line: the empty config is what fails.
      expect(result.stderr).toMatch(/^Invalid configuration/);
    }
  });
});

describe('a value that cannot go into an HTTP header', () => {
  const unsendable = ['\u200b', '\u0000', '日本', '\u202e'];
  const broken = (char: string) => `${SOURCE_TOKEN.slice(0, 20)}${char}${SOURCE_TOKEN.slice(20)}`;
  const config = (source: string, destination?: string) => ({
    parameters: {
      '#token': source,
      url: 'http://127.0.0.1:9',
      tables: [{ name: 'orders' }],
      ...(destination !== undefined && {
        destination: { '#token': destination, url: 'http://127.0.0.1:9', bucket: 'in.c-copy' },
      }),
    },
  });

  it.each(unsendable)(
    'in the source or destination #token (%j) is exit 1 naming the key',
    async (char) => {
      for (const [raw, key, args] of [
        [config(broken(char)), 'parameters.#token', []],
        [config(SOURCE_TOKEN, broken(char)), 'parameters.destination.#token', []],
        [config(broken(char)), 'parameters.#token', ['token', 'inspect']],
        [
          config(SOURCE_TOKEN, broken(char)),
          'parameters.destination.#token',
          ['token', 'inspect', '--destination'],
        ],
      ] as const) {
        const dataDir = await makeDataDir(raw);
        const sentence = expectUserError(await runCli([...args, '--data', dataDir]), SOURCE_TOKEN);
        expect(sentence).toContain(`${key}: contains a character that cannot be sent`);
      }
    },
  );

  it.each(unsendable)('in KBC_MASTER_TOKEN (%j) is exit 1 naming it', async (char) => {
    const result = await runCli(
      ['token', 'create', '--bucket', 'in.c-sales', '--url', 'http://127.0.0.1:9'],
      {
        env: { KBC_MASTER_TOKEN: broken(char) },
      },
    );
    expect(expectUserError(result, SOURCE_TOKEN)).toMatch(/^KBC_MASTER_TOKEN contains a character/);
  });

  it.each(['run\nid', 'run-日本', 'run\u202eid'])(
    'in KBC_RUNID (%j) is exit 1 naming it',
    async (runId) => {
      const dataDir = await makeDataDir(config(SOURCE_TOKEN));
      for (const args of [
        ['--data', dataDir],
        ['token', 'inspect', '--data', dataDir],
      ]) {
        const result = await runCli(args, { env: { KBC_RUNID: runId } });
        expect(expectUserError(result, SOURCE_TOKEN)).toMatch(/^KBC_RUNID contains a character/);
      }
    },
  );
});

describe('KBC_RUNID of any length', () => {
  const config = {
    parameters: { '#token': SOURCE_TOKEN, url: 'http://127.0.0.1:9', tables: [{ name: 'orders' }] },
  };

  it('100,000 characters is exit 1 naming it, before any request', async () => {
    const dataDir = await makeDataDir(config);
    const result = await runCli(['--data', dataDir], { env: { KBC_RUNID: '1'.repeat(100_000) } });
    expect(expectUserError(result, SOURCE_TOKEN)).toBe(
      'KBC_RUNID is 100000 characters long, more than the 1024 a run id may have: set it to a plain run id such as 123456789, or unset it.',
    );
  });

  it.each([
    ['a token', '4242-67319-ca11ab1eca11ab1e00000000000000000000000b', undefined],
    ["the config token's secret part", `run.${SOURCE_TOKEN.split('-')[2] ?? ''}`, SOURCE_TOKEN],
    ['a # value of the config', 'run-NotTokenShapedPassword1', 'NotTokenShapedPassword1'],
  ])(
    'holding %s is exit 1 naming it, before any request: the run id is recorded in every job',
    async (_what, runId, secret) => {
      const dataDir = await makeDataDir({
        ...config,
        image_parameters: { '#password': 'NotTokenShapedPassword1' },
      });
      const result = await runCli(['--data', dataDir], { env: { KBC_RUNID: runId } });
      expect(expectUserError(result, secret ?? runId)).toBe(
        'KBC_RUNID looks like a token or holds a secret of config.json, and the run id is recorded in every job and sync record: set it to a plain run id such as 123456789, or unset it.',
      );
      expect(result.stderr).not.toContain(runId);
    },
  );

  it('1,024 characters (dozens of nesting levels) is a run id', async () => {
    const dataDir = await makeDataDir(config);
    const runId = '1234567890.'.repeat(94).slice(0, 1_024);
    expect(runId).toHaveLength(1_024);
    const result = await runCli(['--data', dataDir], { env: { KBC_RUNID: runId } });
    // Past the check: the request is sent (and meets nothing at that port).
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Cannot reach the Storage API/);
  });
});

describe('a bucket holding a # value of config.json', () => {
  const password = 'NotTokenShapedPassword1';
  const tables = [{ name: 'customers' }];
  it.each([
    [
      'parameters.destination.bucket',
      {
        parameters: {
          '#token': SOURCE_TOKEN,
          url: 'http://127.0.0.1:9',
          tables,
          destination: {
            '#token': SOURCE_TOKEN,
            url: 'http://127.0.0.1:9',
            bucket: `in.c-${password}`,
          },
        },
      },
    ],
    [
      'storage.output.default_bucket',
      {
        storage: { output: { default_bucket: `in.c-${password}` } },
        parameters: { '#token': SOURCE_TOKEN, url: 'http://127.0.0.1:9', tables },
      },
    ],
  ])(
    'as %s is exit 1 naming the key, before any request: the bucket is in every table id and state key',
    async (key, config) => {
      const dataDir = await makeDataDir({ ...config, image_parameters: { '#password': password } });
      const result = await runCli(['--data', dataDir]);
      expect(expectUserError(result, password)).toContain(`${key}: is a hidden value`);
      expect(result.stderr).not.toContain(password);
    },
  );
});

describe('runner variables in log lines', () => {
  it('KBC_CONFIGROWID with a line break or bidi character cannot forge a log line', async () => {
    const dataDir = await makeDataDir({
      parameters: { '#token': SOURCE_TOKEN, url: 'http://127.0.0.1:9', tables: [{ name: 'a' }] },
    });
    const result = await runCli(['--data', dataDir, '--log-format', 'text'], {
      env: { KBC_CONFIGROWID: 'row\nFAKE: injected\u202e', KBC_TABLE_SYNC_RETRY_BUDGET_MS: '1' },
    });
    const [first, second] = result.stdout.split('\n');
    expect(first).toBe('kbc-table-sync run (configuration row row\\u{a}FAKE: injected\\u{202e})');
    expect(second).not.toMatch(/^FAKE/);
  });
});
