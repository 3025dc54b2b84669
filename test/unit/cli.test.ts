import { describe, expect, it } from 'vitest';
import { checkFlagsOfAction, parseCli } from '../../src/cli.js';
import { packageVersion } from '../../src/version.js';
import { UserError } from '../../src/errors.js';

const hint = ' Run "kbc-table-sync --help" for usage.';

/** The sentence a usage mistake throws (a UserError), or a failure when parseCli takes `argv`. */
function messageOf(argv: readonly string[]): string {
  try {
    parseCli(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return (error as Error).message;
  }
  throw new Error(`parseCli(${argv.join(' ')}) did not fail`);
}

describe('parseCli', () => {
  it('defaults to run with nothing selected', () => {
    expect(parseCli([])).toEqual({
      command: 'run',
      data: undefined,
      tables: [],
      fullRefresh: [],
      fullRefreshAll: false,
      dryRun: false,
    });
  });

  it('takes repeatable --table and --full-refresh, and the data folder', () => {
    expect(
      parseCli([
        '--data',
        '/d',
        '--table',
        'orders',
        '--table',
        'customers',
        '--full-refresh',
        'orders',
      ]),
    ).toMatchObject({
      command: 'run',
      data: '/d',
      tables: ['orders', 'customers'],
      fullRefresh: ['orders'],
    });
    expect(parseCli(['run', '--dry-run', '--full-refresh-all'])).toMatchObject({
      dryRun: true,
      fullRefreshAll: true,
    });
  });

  it('parses actions; the emulator is its own package, not a subcommand', () => {
    expect(parseCli(['action', 'list', '--data', 'x'])).toEqual({
      command: 'action',
      name: 'list',
      data: 'x',
      tables: [],
    });
    expect(() => parseCli(['emulator', '--port', '9001'])).toThrow(UserError);
  });

  it('prints the version and the sync actions on --help', () => {
    expect(parseCli(['--version'])).toEqual({ command: 'help', text: packageVersion() });
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
    const help = parseCli(['action', '--help']);
    expect(help.command).toBe('help');
    expect(help.command === 'help' ? help.text : '').toMatch(/columnOptions/);
  });

  it('takes --log-format and --summary-file', () => {
    expect(parseCli(['--log-format', 'text', '--summary-file', 's.json'])).toMatchObject({
      command: 'run',
      logFormat: 'text',
      summaryFile: 's.json',
    });
    expect(() => parseCli(['--log-format', 'xml'])).toThrow(UserError);
  });

  it.each([[['--bogus']], [['--full-refresh', 'a', '--full-refresh-all']], [['action']]])(
    'turns usage mistakes %j into user errors',
    (argv) => {
      expect(() => parseCli(argv)).toThrow(UserError);
    },
  );

  it('a bare action names the actions and ends with the usage hint', () => {
    expect(() => parseCli(['action'])).toThrow(
      /^Name the sync action: one of list, .*\. Run "kbc-table-sync --help" for usage\.$/,
    );
  });

  it('returns help text', () => {
    const parsed = parseCli(['--help']);
    expect(parsed.command).toBe('help');
    expect(parsed.command === 'help' && parsed.text).toContain('--full-refresh');
  });

  it('wraps help to the terminal however --help is asked for, though other runs skip the wrapping', () => {
    for (const argv of [['--help'], ['run', '--help'], ['run', '-h'], ['token', 'create', '-h']]) {
      const parsed = parseCli(argv);
      const lines = parsed.command === 'help' ? parsed.text.split('\n') : [];
      expect(lines.length, argv.join(' ')).toBeGreaterThan(5);
      // The longest option description is longer than 80 characters: unwrapped it would show.
      expect(Math.max(...lines.map((line) => line.length)), argv.join(' ')).toBeLessThanOrEqual(80);
    }
  });

  it('token --help lists the token commands instead of asking for one', () => {
    for (const flag of ['--help', '-h']) {
      const parsed = parseCli(['token', flag]);
      expect(parsed.command).toBe('help');
      const text = parsed.command === 'help' ? parsed.text : '';
      for (const name of ['create', 'inspect', 'rotate', 'revoke']) {
        expect(text).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
      }
    }
  });

  it('token commands refuse --log-format, which they would ignore, and do not list it', () => {
    expect(() => parseCli(['token', 'inspect', '--log-format', 'json'])).toThrow(
      '--log-format applies to runs only; token commands print text (token inspect --json prints one JSON document).',
    );
    const help = parseCli(['token', 'inspect', '--help']);
    expect(help.command === 'help' ? help.text : '').not.toContain('--log-format');
    expect(parseCli(['--log-format', 'json'])).toMatchObject({ command: 'run', logFormat: 'json' });
  });

  it('usage mistakes are one sentence each', () => {
    expect(messageOf(['--dry-run', '--summary-file', 's.json'])).toBe(
      `--summary-file cannot be used with --dry-run: the dry run copies nothing and only prints its plan.${hint}`,
    );
    // A sync action typed as a command points at `action`.
    expect(messageOf(['plan', '--help'])).toBe(
      `"plan" is a sync action, not a command: run "kbc-table-sync action plan".${hint}`,
    );
  });
});

describe("parseCli: yargs usage failures in the project's own sentences", () => {
  it.each([
    [['--log-format', 'xml'], `--log-format must be text or json, not "xml".${hint}`],
    [
      ['--log-format', '101-1101-5ea1e5f0c0ffee00000000000000000000001101'],
      `--log-format must be text or json, not "[hidden]".${hint}`,
    ],
    [
      ['--full-refresh-all', '--full-refresh', 'orders'],
      `--full-refresh-all and --full-refresh cannot be combined: --full-refresh-all already does a full load of every selected table; give one of them.${hint}`,
    ],
    [
      ['--full-refresh', 'orders', '--full-refresh-all'],
      `--full-refresh-all and --full-refresh cannot be combined: --full-refresh-all already does a full load of every selected table; give one of them.${hint}`,
    ],
    [
      ['token', 'inspect', '--yes'],
      'Unknown option --yes for "token inspect"; run "kbc-table-sync token inspect --help" for what it takes.',
    ],
    [
      ['token', 'inspect', '--yes', '--json', '--bogus'],
      'Unknown options --yes and --bogus for "token inspect"; run "kbc-table-sync token inspect --help" for what it takes.',
    ],
    [
      ['--dry-run', '--foo-bar', '-xy'],
      'Unknown options --foo-bar and -xy for "run"; run "kbc-table-sync --help" for what it takes.',
    ],
    [
      ['action', 'plan', '--bogus=1'],
      'Unknown option --bogus for "action"; run "kbc-table-sync action --help" for what it takes.',
    ],
    [['token', 'bogus'], 'Unknown token command "bogus": use create, inspect, rotate or revoke.'],
    [
      ['bogus'],
      'Unknown command "bogus": use run (the default), action or token; run "kbc-table-sync --help" for usage.',
    ],
    [
      ['token', 'inspect', 'extra'],
      'Unexpected argument "extra" for "token inspect"; run "kbc-table-sync token inspect --help" for what it takes.',
    ],
  ])('%j', (argv, sentence) => {
    expect(messageOf(argv)).toBe(sentence);
  });
});

describe('flags the chosen action would not read', () => {
  it.each([
    [
      ['action', 'list', '--table', 'nope'],
      '--table cannot be used with the sync action "list": only a run and the plan action select tables.',
    ],
    [
      ['action', 'info', '--shard', '0/2'],
      '--shard cannot be used with the sync action "info": only a run and the plan action select tables.',
    ],
    [
      ['action', 'plan', '--log-format', 'json'],
      '--log-format cannot be used with the sync action "plan": a sync action copies nothing and only prints its JSON document, and its logs go only to a GELF server.',
    ],
    [
      ['--dry-run', '--log-format', 'text'],
      '--log-format cannot be used with --dry-run: the dry run copies nothing and only prints its plan, and its logs go only to a GELF server.',
    ],
  ])('%j is refused', (argv, sentence) => {
    expect(messageOf(argv)).toBe(`${sentence}${hint}`);
  });

  it('plan, and the dry run, select tables', () => {
    expect(parseCli(['action', 'plan', '--table', 'a', '--shard', '0/2'])).toMatchObject({
      tables: ['a'],
      shard: { index: 0, count: 2 },
    });
    expect(parseCli(['--dry-run', '--table', 'a', '--full-refresh', 'a'])).toMatchObject({
      dryRun: true,
      tables: ['a'],
    });
  });

  it('the action of config.json, once it is read', () => {
    const refusal = (argv: readonly string[], action: 'run' | 'plan' | 'list') => {
      const cli = parseCli(argv);
      if (cli.command !== 'run') throw new Error('not a run');
      try {
        checkFlagsOfAction(cli, action);
        return undefined;
      } catch (error) {
        expect(error).toBeInstanceOf(UserError);
        return (error as Error).message;
      }
    };
    expect(refusal(['--summary-file', 's.json'], 'plan')).toBe(
      `--summary-file cannot be used with the sync action "plan" that config.json names ("action"): a sync action copies nothing and only prints its JSON document.${hint}`,
    );
    expect(refusal(['--full-refresh-all'], 'list')).toBe(
      `--full-refresh-all cannot be used with the sync action "list" that config.json names ("action"): only a run and the plan action select tables.${hint}`,
    );
    expect(refusal(['--log-format', 'json'], 'list')).toMatch(/^--log-format cannot be used /);
    expect(refusal(['--full-refresh', 'a', '--shard', '0/2'], 'plan')).toBeUndefined();
    expect(refusal(['--summary-file', 's.json', '--log-format', 'json'], 'run')).toBeUndefined();
  });
});

describe('parseCli: arguments after --', () => {
  // yargs sets them aside even in strict mode: `-- --table customers --dry-run` would be a real
  // run of every table.
  it.each([
    [
      ['--data', 'd', '--', '--table', 'customers', '--dry-run'],
      'Arguments after -- are not read: --table, --dry-run and 1 other argument; remove the --, or the arguments after it.',
    ],
    [
      ['token', 'revoke', '--data', 'd', '--', '--yes'],
      'Arguments after -- are not read: --yes; remove the --, or the arguments after it.',
    ],
    [
      ['action', 'list', '--', 'extra', 'words'],
      'Arguments after -- are not read: 2 arguments; remove the --, or the arguments after it.',
    ],
    // Values are counted, never shown: they may be secrets no masker knows yet.
    [
      [
        '--',
        '--summary-file=s3cret-value',
        's3cret-value',
        '--101-1101-5ea1e5f0c0ffee00000000000000000000001101',
      ],
      'Arguments after -- are not read: --summary-file and 2 other arguments; remove the --, or the arguments after it.',
    ],
  ])('%j is refused', (argv, sentence) => {
    expect(messageOf(argv)).toBe(`${sentence}${hint}`);
  });

  it('a -- with nothing after it leaves nothing unread', () => {
    expect(parseCli(['--data', 'd', '--'])).toMatchObject({ command: 'run', data: 'd' });
  });
});
