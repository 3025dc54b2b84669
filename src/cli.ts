import yargs from 'yargs';
import { UserError } from './errors.js';

/** The parsed command line (README.md, Configuration). */
export type CliArgs =
  | {
      readonly command: 'run';
      readonly data: string | undefined;
      readonly tables: readonly string[];
      readonly fullRefresh: readonly string[];
      readonly fullRefreshAll: boolean;
      readonly dryRun: boolean;
    }
  | {
      readonly command: 'action';
      readonly name: string;
      readonly data: string | undefined;
      readonly tables: readonly string[];
    }
  | {
      readonly command: 'emulator';
      readonly port: number | undefined;
      readonly seed: string | undefined;
    }
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
          .conflicts('full-refresh', 'full-refresh-all'),
      (args) => {
        result = {
          command: 'run',
          data: args.data,
          tables: args.table ?? [],
          fullRefresh: args['full-refresh'] ?? [],
          fullRefreshAll: args['full-refresh-all'] ?? false,
          dryRun: args['dry-run'],
        };
      },
    )
    .command(
      'action <name>',
      'Run a sync action (list, info, sourceInfo, testConnection, plan) and print its JSON',
      (y) =>
        y
          .positional('name', { type: 'string', demandOption: true })
          .option('data', dataOption)
          .option('table', { type: 'string', array: true, describe: 'Limit plan to this table' }),
      (args) => {
        result = { command: 'action', name: args.name, data: args.data, tables: args.table ?? [] };
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
  if (parsed.help) {
    parser.showHelp((text) => {
      helpText = text;
    });
    return { command: 'help', text: helpText ?? '' };
  }
  if (!result) throw new UserError('Unknown command. Run "kbc-table-sync --help" for usage.');
  return result;
}

const dataOption = {
  type: 'string',
  describe: 'Data folder (default $KBC_DATADIR, else /data/ when it exists, else ./data)',
} as const;
