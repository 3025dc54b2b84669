import yargs, { type Argv } from 'yargs';
import {
  SYNC_ACTIONS,
  SYNC_ACTION_DESCRIPTIONS,
  isSyncAction,
  type SyncAction,
} from './config/action-names.js';
import { UserError } from './errors.js';
import { LOG_FORMATS, type LogFormat } from './logger.js';
import { parseShard, type Shard } from './plan/shard.js';
import { hideTokenShapes, looksLikeToken } from './secrets.js';
import type { TokenCommand } from './tokens/commands.js';
import { packageVersion } from './version.js';

/** The parsed command line (README.md, Configuration). */
export type CliArgs =
  | {
      readonly command: 'run';
      readonly data: string | undefined;
      readonly tables: readonly string[];
      readonly fullRefresh: readonly string[];
      readonly fullRefreshAll: boolean;
      readonly dryRun: boolean;
      readonly shard?: Shard | undefined;
      readonly logFormat?: LogFormat | undefined;
      /** `--summary-file`: where the run's JSON result goes when it ends, whatever the outcome. */
      readonly summaryFile?: string | undefined;
    }
  | {
      readonly command: 'action';
      readonly name: string;
      readonly data: string | undefined;
      readonly tables: readonly string[];
      readonly shard?: Shard | undefined;
      readonly logFormat?: LogFormat | undefined;
    }
  | ({ readonly command: 'token' } & TokenCommand)
  /** `--help` and `--version`: print the text, exit 0. */
  | { readonly command: 'help'; readonly text: string };

/**
 * Parses argv (without node and the script). Usage mistakes are user errors (exit 1).
 * @throws UserError with yargs' message and the usage hint
 */
export function parseCli(argv: readonly string[]): CliArgs {
  const problem = rawFlagProblem(argv);
  if (problem !== undefined) throw new UserError(`${problem} ${USAGE_HINT}`);
  // `token --help` names no command yet: yargs would refuse it before it looks at --help.
  if (argv[0] === 'token' && (argv[1] === '--help' || argv[1] === '-h')) {
    return { command: 'help', text: tokenHelp() };
  }
  let result: CliArgs | undefined;
  let helpText: string | undefined;
  // The command yargs chose (its builder ran), for the sentence of an unknown argument.
  let chosen = 'run';
  const parser = yargs([...argv])
    .scriptName('kbc-table-sync')
    .strict()
    .exitProcess(false)
    .help(false)
    .version(false)
    .option('help', { type: 'boolean', alias: 'h', describe: 'Show help' })
    .option('version', { type: 'boolean', describe: 'Show the version' })
    .option('log-format', {
      type: 'string',
      choices: LOG_FORMATS,
      coerce: oneOf('log-format', LOG_FORMATS),
      describe:
        'Log lines as text or JSON (default: text on a terminal or under the Keboola runner, JSON when piped)',
    })
    .command(
      ['run', '$0'],
      'Copy the configured tables (the default command)',
      (y) =>
        chosenAs('run', y)
          .option('data', dataOption)
          .option('table', {
            type: 'string',
            array: true,
            coerce: someValues('table', 'orders'),
            describe: 'Run only this table (repeatable); the others and their state are untouched',
          })
          .option('full-refresh', {
            type: 'string',
            array: true,
            coerce: someValues('full-refresh', 'orders'),
            describe: 'Ignore the saved watermark of this table and do a full load (repeatable)',
          })
          .option('full-refresh-all', {
            type: 'boolean',
            describe: 'Full load of every selected table',
          })
          .option('shard', shardOption)
          .option('dry-run', {
            type: 'boolean',
            default: false,
            describe: 'Print the plan as JSON and write nothing',
          })
          .option('summary-file', {
            type: 'string',
            coerce: oneValue('summary-file', 'summary.json'),
            describe: 'Write the run result as one JSON document to this file when the run ends',
          }),
      (args) => {
        result = {
          command: 'run',
          data: args.data,
          tables: args.table ?? [],
          fullRefresh: args['full-refresh'] ?? [],
          fullRefreshAll: args['full-refresh-all'] ?? false,
          dryRun: args['dry-run'],
          ...(args.shard !== undefined ? { shard: shardOf(args.shard) } : {}),
          logFormat: logFormatOf(args['log-format']),
          summaryFile: args['summary-file'],
        };
      },
    )
    .command(
      'action [name]',
      `Run a sync action (${SYNC_ACTIONS.join(', ')}) and print its JSON`,
      (y) =>
        chosenAs('action', y)
          .positional('name', { type: 'string', describe: 'The sync action' })
          .option('data', dataOption)
          .option('table', {
            type: 'string',
            array: true,
            coerce: someValues('table', 'orders'),
            describe: 'plan only: limit the plan to this table (repeatable)',
          })
          .option('shard', shardOption),
      (args) => {
        result = {
          command: 'action',
          name: args.name ?? '',
          data: args.data,
          tables: args.table ?? [],
          ...(args.shard !== undefined ? { shard: shardOf(args.shard) } : {}),
          logFormat: logFormatOf(args['log-format']),
        };
      },
    )
    .command('token', 'Token lifecycle: create, inspect, rotate, revoke (docs/tokens.md)', (y) =>
      tokenCommands(chosenAs('token', y), chosenAs, (command) => {
        result = { command: 'token', ...command };
      }),
    )
    .fail((message, error) => {
      if (error) throw new UserError(`${asSentence(error.message)} ${USAGE_HINT}`);
      throw new UserError(usageFailure(message, argv, chosen));
    });
  // yargs renders and caches a command's help text on every parse, wrapping each line to the
  // terminal: about a tenth of the job's start-up CPU (docs/performance.md, Start-up). Without
  // --help that text is never shown, so it is rendered unwrapped, which costs almost nothing.
  if (!argv.some(asksForHelp)) parser.wrap(null);
  function chosenAs<T>(command: string, y: Argv<T>): Argv<T> {
    chosen = command;
    return y;
  }
  const parsed = parser.parseSync();
  if (parsed.version) return { command: 'help', text: packageVersion() };
  if (parsed.help && result?.command === 'action') return { command: 'help', text: actionHelp() };
  if (parsed.help) {
    parser.showHelp((text) => {
      helpText = text;
    });
    return { command: 'help', text: helpText ?? '' };
  }
  if (!result) throw new UserError('Unknown command. Run "kbc-table-sync --help" for usage.');
  if (result.command === 'token' && parsed['log-format'] !== undefined) {
    // Token commands print their report, not log lines: the flag would be silently ignored.
    throw new UserError(
      `--log-format applies to runs only; token commands print text (token inspect --json prints one JSON document). ${USAGE_HINT}`,
    );
  }
  if (result.command === 'run' && result.fullRefreshAll && result.fullRefresh.length > 0) {
    throw new UserError(
      `--full-refresh-all and --full-refresh cannot be combined: --full-refresh-all already does a full load of every selected table; give one of them. ${USAGE_HINT}`,
    );
  }
  if (result.command === 'run' && result.dryRun) checkFlagsOfAction(result, 'plan');
  if (result.command === 'action' && isSyncAction(result.name)) {
    checkFlagsOfAction(result, result.name);
  }
  if (result.command === 'action' && result.name === '') {
    throw new UserError(`Name the sync action: one of ${SYNC_ACTIONS.join(', ')}. ${USAGE_HINT}`);
  }
  return result;
}

/** An argument that may make yargs show help (`-h` among combined short flags too). */
function asksForHelp(arg: string): boolean {
  return arg.startsWith('--help') || (/^-[^-]/.test(arg) && arg.includes('h'));
}

/**
 * Refuses a flag that the chosen action would not read (docs/configuration.md, The command line).
 * A sync action (named after `action`, `plan` for `--dry-run`, or the `"action"` of config.json,
 * which the caller passes once it is read) prints one JSON document and nothing else: it takes no
 * `--summary-file` (a summary would read as a run that copied nothing) and no `--log-format` (its
 * logs go only to a GELF server). Only `plan` selects tables (`--table`, `--shard`,
 * `--full-refresh`, `--full-refresh-all`).
 * @throws UserError naming the flag and where the action came from
 */
export function checkFlagsOfAction(
  cli: Extract<CliArgs, { command: 'run' | 'action' }>,
  action: 'run' | SyncAction,
): void {
  if (action === 'run') return;
  const dryRun = cli.command === 'run' && cli.dryRun;
  const chosen = dryRun
    ? '--dry-run'
    : `the sync action "${action}"${cli.command === 'run' ? ' that config.json names ("action")' : ''}`;
  const prints = dryRun
    ? 'the dry run copies nothing and only prints its plan'
    : 'a sync action copies nothing and only prints its JSON document';
  const refuse = (flag: string, reason: string) =>
    new UserError(`--${flag} cannot be used with ${chosen}: ${reason}. ${USAGE_HINT}`);
  if (cli.command === 'run' && cli.summaryFile !== undefined) throw refuse('summary-file', prints);
  if (cli.logFormat !== undefined) {
    throw refuse('log-format', `${prints}, and its logs go only to a GELF server`);
  }
  if (action === 'plan') return;
  const selecting = [
    cli.tables.length > 0 && 'table',
    cli.shard !== undefined && 'shard',
    cli.command === 'run' && cli.fullRefresh.length > 0 && 'full-refresh',
    cli.command === 'run' && cli.fullRefreshAll && 'full-refresh-all',
  ].find((flag) => flag !== false);
  if (selecting !== undefined) {
    throw refuse(selecting, 'only a run and the plan action select tables');
  }
}

/**
 * The sentence of a usage mistake yargs found (`command` is the one it chose: `run`, `action`,
 * `token` or `token inspect`…). Unknown arguments are named as typed (`--yes`), with the `--help`
 * that lists what the command takes; when any argument holds a token none is named, since yargs
 * reports them in forms (camel-cased, dashes removed) that no masker recognises. Any other
 * message is yargs' own.
 */
function usageFailure(message: string, argv: readonly string[], command: string): string {
  const unknown = /^Unknown arguments?: (.*)$/s.exec(message.trim());
  const first = argv[0];
  if (unknown && SYNC_ACTIONS.some((name) => name === first)) {
    return `"${first}" is a sync action, not a command: run "kbc-table-sync action ${first}". ${USAGE_HINT}`;
  }
  if (unknown?.[1] === undefined) return `${asSentence(message)} ${USAGE_HINT}`;
  if (argv.some(looksLikeToken)) {
    return `Unknown argument: one of the arguments holds a Keboola token, so they are not shown; a token belongs in config.json ("#token") or KBC_MASTER_TOKEN, never on the command line. ${USAGE_HINT}`;
  }
  const { options, words } = unknownArguments(unknown[1].split(', '), argv);
  const help = `"kbc-table-sync ${command === 'run' ? '' : `${command} `}--help"`;
  if (options.length > 0) {
    return `Unknown option${options.length > 1 ? 's' : ''} ${listed(options)} for "${command}"; run ${help} for what it takes.`;
  }
  const word = words[0];
  if (word === undefined) return `${asSentence(message)} ${USAGE_HINT}`;
  const shown = JSON.stringify(word.slice(0, 40));
  if (command === 'token') {
    return `Unknown token command ${shown}: use ${listed(Object.keys(TOKEN_COMMAND_DESCRIPTIONS), 'or')}.`;
  }
  if (command === 'run' && word === firstWord(argv)) {
    return `Unknown command ${shown}: use run (the default), action or token; run ${help} for usage.`;
  }
  return `Unexpected argument ${shown} for "${command}"; run ${help} for what it takes.`;
}

/**
 * The arguments of argv that yargs named unknown (`names`, in its forms): the options as typed,
 * without a value (`--yes`, `-x`), and the other words.
 */
function unknownArguments(
  names: readonly string[],
  argv: readonly string[],
): { options: string[]; words: string[] } {
  const unknown = new Set(names);
  const options: string[] = [];
  const words: string[] = [];
  for (const arg of argv) {
    if (arg === '--') break;
    const option = /^(--?)(?:no-)?([^=]+)/.exec(arg);
    if (option?.[2] === undefined) {
      if (unknown.has(arg)) words.push(arg);
      continue;
    }
    const name = option[2];
    const forms = option[1] === '--' ? [name, camelCased(name)] : [...name];
    if (forms.some((form) => unknown.has(form))) options.push(arg.split('=')[0] ?? arg);
  }
  return { options, words };
}

function camelCased(name: string): string {
  return name.replace(/-([a-z])/g, (_dash, letter: string) => letter.toUpperCase());
}

/** The first argument that is not an option. */
function firstWord(argv: readonly string[]): string | undefined {
  return argv.find((arg) => !arg.startsWith('-'));
}

/** `a`, `a and b`, `a, b and c` (or `or`). */
function listed(items: readonly string[], conjunction = 'and'): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} ${conjunction} ${items.at(-1) ?? ''}`;
}

/**
 * `--shard`: token shapes are hidden before parseShard cuts the value it shows; its sentence gets
 * the usage hint of every usage mistake (docs/configuration.md, The command line).
 */
function shardOf(text: string): Shard {
  try {
    return parseShard(hideTokenShapes(text));
  } catch (error) {
    if (error instanceof UserError) throw new UserError(`${error.message} ${USAGE_HINT}`);
    throw error;
  }
}

/**
 * The coerce of a flag that takes one of `choices` (yargs' own check would answer in its words).
 * A value shaped like a token is hidden before it is cut to 40 characters.
 */
function oneOf(flag: string, choices: readonly string[]): (value: unknown) => string {
  const single = oneValue(flag, choices[0] ?? '');
  return (value) => {
    const text = single(value);
    if (choices.includes(text)) return text;
    const shown = JSON.stringify(hideTokenShapes(text).slice(0, 40));
    throw new UserError(`--${flag} must be ${listed(choices, 'or')}, not ${shown}.`);
  };
}

/**
 * The coerce of a flag that takes one value. yargs turns a repeated flag into a list, which the
 * code after it would take for a string; `--data` or `--data=` gives `""` and `--no-data` false.
 */
function oneValue(flag: string, example: string): (value: unknown) => string {
  return (value) => {
    if (Array.isArray(value)) throw new UserError(`--${flag} is given twice: give it once.`);
    return withValue(value, flag, example);
  };
}

/**
 * The coerce of a repeatable flag: every occurrence needs its value. `--table` or `--table=`
 * alone gives an empty list, which would otherwise mean every table.
 */
function someValues(flag: string, example: string): (values: unknown[]) => string[] {
  return (values) => {
    if (values.length === 0) throw new UserError(needsValue(flag, example));
    return values.map((value) => withValue(value, flag, example));
  };
}

function withValue(value: unknown, flag: string, example: string): string {
  if (typeof value === 'string' && value.trim() !== '') return value;
  throw new UserError(needsValue(flag, example));
}

function needsValue(flag: string, example: string): string {
  return `--${flag} needs a value, such as --${flag} ${example}.`;
}

/**
 * The flags that take no value (the boolean options of every command above); yargs reads
 * `--dry-run=maybe` as false without a word.
 */
const SWITCHES = new Set([
  'help',
  'version',
  'dry-run',
  'full-refresh-all',
  'write',
  'destination',
  'json',
  'yes',
]);

/** The repeatable flags: yargs drops an occurrence without a value (`--table a --table=`). */
const REPEATABLE = new Set(['table', 'full-refresh']);

/**
 * What yargs reads silently from the raw arguments: a switch given a value other than `true` or
 * `false` (`--dry-run=maybe`, read as false: a real run), a repeatable flag without its value, and
 * any argument after `--` (yargs sets those aside, even in strict mode, and nothing reads them).
 * Camel-cased names (`--dryRun`) count too.
 * @returns the sentence naming the flag, or undefined when there is none of these
 */
function rawFlagProblem(argv: readonly string[]): string | undefined {
  // A switch given on and off (`--dry-run --no-dry-run`): yargs keeps the last, silently.
  const switchedTo = new Map<string, boolean>();
  for (const [index, arg] of argv.entries()) {
    if (arg === '--') return afterDoubleDash(argv.slice(index + 1));
    const match = /^--(no-)?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!match?.[2]) continue;
    const name = match[2].replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    const value = match[3];
    if (SWITCHES.has(name) && value !== undefined && value !== 'true' && value !== 'false') {
      return `--${name} is a switch: give it without a value, or leave it out.`;
    }
    if (SWITCHES.has(name)) {
      const on = (value ?? 'true') === 'true' && match[1] === undefined;
      if (switchedTo.get(name) === !on) {
        return `--${name} is given both on and off: give it once, or leave it out.`;
      }
      switchedTo.set(name, on);
    }
    const next = argv[index + 1];
    const missing = value === undefined ? next === undefined || next.startsWith('-') : value === '';
    if (REPEATABLE.has(name) && missing) return needsValue(name, 'orders');
  }
  return undefined;
}

/**
 * The sentence for arguments after `--` (`rest`), or undefined when there are none: it names the
 * flags as typed, without a value and with token shapes hidden, and only counts the other
 * arguments, which may be values (a secret included) that no masker knows yet.
 */
function afterDoubleDash(rest: readonly string[]): string | undefined {
  if (rest.length === 0) return undefined;
  const flags = rest
    .map((arg) => arg.split('=')[0] ?? arg)
    .filter((name) => /^--?[a-z][a-z0-9-]*$/i.test(name))
    .map((name) => hideTokenShapes(name).slice(0, 40));
  const others = rest.length - flags.length;
  const counted =
    others === 0
      ? []
      : [`${others} ${flags.length > 0 ? 'other ' : ''}argument${others > 1 ? 's' : ''}`];
  return `Arguments after -- are not read: ${listed([...flags, ...counted])}; remove the --, or the arguments after it.`;
}

const USAGE_HINT = 'Run "kbc-table-sync --help" for usage.';

/** yargs' message as one sentence: its lines joined, a full stop at the end. */
function asSentence(message: string): string {
  const line = message.trim().replace(/:?\s*\n\s*/g, ': ');
  return /[.!?]$/.test(line) ? line : `${line}.`;
}

function logFormatOf(value: string | undefined): LogFormat | undefined {
  return LOG_FORMATS.find((format) => format === value);
}

/** `action --help`: the usage and one line per sync action. */
function actionHelp(): string {
  return [
    'kbc-table-sync action <name> [--data DIR]',
    'kbc-table-sync action plan [--data DIR] [--table NAME ...] [--shard INDEX/COUNT]',
    '',
    'Runs one sync action and prints its JSON document on stdout. Actions:',
    ...describedNames(SYNC_ACTION_DESCRIPTIONS),
  ].join('\n');
}

/** One aligned `  name  description` line per entry, for the help texts. */
function describedNames(descriptions: Readonly<Record<string, string>>): string[] {
  const entries = Object.entries(descriptions);
  const width = Math.max(...entries.map(([name]) => name.length));
  return entries.map(([name, description]) => `  ${name.padEnd(width)}  ${description}`);
}

const dataOption = {
  type: 'string',
  coerce: oneValue('data', './data'),
  describe: 'Data folder (default $KBC_DATADIR, else /data/ when it exists, else ./data)',
} as const;

const shardOption = {
  type: 'string',
  coerce: oneValue('shard', '0/3'),
  describe:
    'Copy only the tables of this shard: FNV-1a 32 of the source table id modulo COUNT equals INDEX (0-based, e.g. 0/3)',
} as const;
const destinationOption = {
  type: 'boolean',
  default: false,
  describe: 'The destination token of a standalone config (parameters.destination.#token)',
} as const;

/** One line each, for `token <name> --help` and `token --help`. */
const TOKEN_COMMAND_DESCRIPTIONS = {
  create: 'Create a least-privilege token with KBC_MASTER_TOKEN (read from the environment only)',
  inspect: "Show the configured token: permissions, expiry, last activity and the job's verdict",
  rotate: 'Refresh the configured token and write the new one into config.json',
  revoke: 'Delete the configured token (it deletes itself); needs --yes',
} as const;

/** `token --help`: the usage and one line per token command. */
function tokenHelp(): string {
  return [
    `kbc-table-sync token <${Object.keys(TOKEN_COMMAND_DESCRIPTIONS).join('|')}> [options]`,
    '',
    'Token lifecycle (docs/tokens.md). Commands:',
    ...describedNames(TOKEN_COMMAND_DESCRIPTIONS),
    '',
    'Run "kbc-table-sync token <command> --help" for its options.',
  ].join('\n');
}

/**
 * The `token` subcommands; each hands its parsed flags to `done`, and its builder tells `chosen`
 * which one yargs picked.
 */
function tokenCommands(
  y: Argv,
  chosen: <T>(command: string, y: Argv<T>) => Argv<T>,
  done: (command: TokenCommand) => void,
): Argv {
  return y
    .hide('log-format')
    .command(
      'create',
      TOKEN_COMMAND_DESCRIPTIONS.create,
      (c) =>
        chosen('token create', c)
          .option('bucket', {
            type: 'string',
            coerce: oneValue('bucket', 'in.c-sales'),
            describe: 'The one bucket (required)',
          })
          .option('expires-in', {
            type: 'string',
            coerce: oneValue('expires-in', '90d'),
            describe: 'Expiry: 90d, 12h, 30m or seconds',
          })
          .option('description', {
            type: 'string',
            coerce: oneValue('description', '"nightly copy"'),
            describe: 'Token description',
          })
          .option('write', { type: 'boolean', default: false, describe: 'write instead of read' })
          .option('destination', destinationOption)
          .option('region', {
            type: 'string',
            coerce: oneValue('region', 'eu'),
            describe: 'Stack region (us-east-1, eu, ...)',
          })
          .option('url', {
            type: 'string',
            coerce: oneValue('url', 'https://connection.keboola.com'),
            describe: 'Stack URL',
          })
          .option('write-config', {
            type: 'string',
            coerce: oneValue('write-config', './data'),
            describe: 'Write the token into DIR/config.json instead of printing it',
          }),
      (args) =>
        done({
          action: 'create',
          bucket: args.bucket,
          expiresIn: args['expires-in'],
          description: args.description,
          write: args.write,
          destination: args.destination,
          region: args.region,
          url: args.url,
          writeConfig: args['write-config'],
        }),
    )
    .command(
      'inspect',
      TOKEN_COMMAND_DESCRIPTIONS.inspect,
      (c) =>
        chosen('token inspect', c)
          .option('data', dataOption)
          .option('destination', destinationOption)
          .option('json', { type: 'boolean', default: false, describe: 'One JSON document' }),
      (args) =>
        done({
          action: 'inspect',
          data: args.data,
          destination: args.destination,
          json: args.json,
        }),
    )
    .command(
      'rotate',
      TOKEN_COMMAND_DESCRIPTIONS.rotate,
      (c) =>
        chosen('token rotate', c)
          .option('data', dataOption)
          .option('destination', destinationOption),
      (args) => done({ action: 'rotate', data: args.data, destination: args.destination }),
    )
    .command(
      'revoke',
      TOKEN_COMMAND_DESCRIPTIONS.revoke,
      (c) =>
        chosen('token revoke', c)
          .option('data', dataOption)
          .option('destination', destinationOption)
          .option('yes', { type: 'boolean', default: false, describe: 'Really revoke it' }),
      (args) =>
        done({ action: 'revoke', data: args.data, destination: args.destination, yes: args.yes }),
    )
    .demandCommand(1, 'Name a token command: create, inspect, rotate or revoke.');
}
