import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { SYNC_ACTIONS, SYNC_ACTION_DESCRIPTIONS } from './actions/names.js';
import { UserError } from './errors.js';
import { LOG_FORMATS, type LogFormat } from './logger.js';

/** The parsed command line (design §3). */
export type CliArgs =
  | {
      readonly command: 'run';
      readonly data: string | undefined;
      readonly tables: readonly string[];
      readonly fullRefresh: readonly string[];
      readonly fullRefreshAll: boolean;
      readonly dryRun: boolean;
      readonly logFormat?: LogFormat | undefined;
      /** `--summary-file`: where the run's JSON result goes when it ends, whatever the outcome. */
      readonly summaryFile?: string | undefined;
    }
  | {
      readonly command: 'action';
      readonly name: string;
      readonly data: string | undefined;
      readonly tables: readonly string[];
      readonly logFormat?: LogFormat | undefined;
    }
  | {
      readonly command: 'emulator';
      readonly port: number | undefined;
      readonly seed: string | undefined;
    }
  /** `--help` and `--version`: print the text, exit 0. */
  | { readonly command: 'help'; readonly text: string };

/**
 * Parses argv (without node and the script). Usage mistakes are user errors (exit 1).
 * @throws UserError with yargs' message and the usage hint
 */
export function parseCli(argv: readonly string[]): CliArgs {
  let result: CliArgs | undefined;
  let helpText: string | undefined;
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
      describe:
        'Log lines as text or JSON (default: text on a terminal or under the Keboola runner, JSON when piped)',
    })
    .command(
      ['run', '$0'],
      'Copy the configured tables (the default command)',
      (y) =>
        y
          .option('data', dataOption)
          .option('table', {
            type: 'string',
            array: true,
            describe: 'Run only this table (repeatable); the others and their state are untouched',
          })
          .option('full-refresh', {
            type: 'string',
            array: true,
            describe: 'Ignore the saved watermark of this table and do a full load (repeatable)',
          })
          .option('full-refresh-all', {
            type: 'boolean',
            describe: 'Full load of every selected table',
          })
          .option('dry-run', {
            type: 'boolean',
            default: false,
            describe: 'Print the plan as JSON and write nothing',
          })
          .option('summary-file', {
            type: 'string',
            describe: 'Write the run result as one JSON document to this file when the run ends',
          })
          .conflicts('full-refresh', 'full-refresh-all'),
      (args) => {
        result = {
          command: 'run',
          data: args.data,
          tables: args.table ?? [],
          fullRefresh: args['full-refresh'] ?? [],
          fullRefreshAll: args['full-refresh-all'] ?? false,
          dryRun: args['dry-run'],
          logFormat: logFormatOf(args['log-format']),
          summaryFile: args['summary-file'],
        };
      },
    )
    .command(
      'action [name]',
      `Run a sync action (${SYNC_ACTIONS.join(', ')}) and print its JSON`,
      (y) =>
        y
          .positional('name', { type: 'string', describe: 'The sync action' })
          .option('data', dataOption)
          .option('table', { type: 'string', array: true, describe: 'Limit plan to this table' }),
      (args) => {
        result = {
          command: 'action',
          name: args.name ?? '',
          data: args.data,
          tables: args.table ?? [],
          logFormat: logFormatOf(args['log-format']),
        };
      },
    )
    .command(
      'emulator',
      'Start the local Storage API emulator (from a source checkout)',
      (y) =>
        y
          .option('port', { type: 'number', describe: 'Port on 127.0.0.1 (default 8765)' })
          .option('seed', { type: 'string', describe: 'Seed file (default data/seed/seed.json)' }),
      (args) => {
        result = { command: 'emulator', port: args.port, seed: args.seed };
      },
    )
    .fail((message, error) => {
      throw new UserError(
        `${error ? error.message : message} Run "kbc-table-sync --help" for usage.`,
      );
    });
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
  if (result.command === 'action' && result.name === '') {
    throw new UserError(`Name the sync action: one of ${SYNC_ACTIONS.join(', ')}.`);
  }
  return result;
}

function logFormatOf(value: string | undefined): LogFormat | undefined {
  return LOG_FORMATS.find((format) => format === value);
}

/** `action --help`: the usage and one line per sync action. */
function actionHelp(): string {
  const width = Math.max(...SYNC_ACTIONS.map((name) => name.length));
  return [
    'kbc-table-sync action <name> [--data DIR] [--table NAME ...]',
    '',
    'Runs one sync action and prints its JSON document on stdout. Actions:',
    ...SYNC_ACTIONS.map((name) => `  ${name.padEnd(width)}  ${SYNC_ACTION_DESCRIPTIONS[name]}`),
  ].join('\n');
}

/** The version in package.json (next to dist/ in the image and in a checkout). */
export function packageVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  const version = (JSON.parse(text) as { version?: unknown }).version;
  return typeof version === 'string' ? version : 'unknown';
}

const dataOption = {
  type: 'string',
  describe: 'Data folder (default $KBC_DATADIR, else /data/ when it exists, else ./data)',
} as const;
