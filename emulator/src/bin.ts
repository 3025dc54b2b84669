#!/usr/bin/env node
/**
 * `keboola-storage-emulator [--port N] [--seed FILE | --empty]`: runs the emulator in the
 * foreground until SIGINT/SIGTERM. Without `--seed` it loads the demo seed shipped with the
 * package; `--empty` starts with no projects (add them through the control API).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_EMULATOR_PORT, runEmulatorCli } from './main.js';
import { DEMO_SEED_FILE } from './index.js';

const USAGE = `Usage: keboola-storage-emulator [--port N] [--seed FILE | --empty]

  --port N     listen on 127.0.0.1:N (default ${DEFAULT_EMULATOR_PORT}; 0 picks a free port)
  --seed FILE  seed document (default: the demo seed, ${DEMO_SEED_FILE})
  --empty      start with no projects and no tokens
  --help       this text
`;

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string' },
      seed: { type: 'string' },
      empty: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = values.port === undefined ? DEFAULT_EMULATOR_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`--port must be a port number from 0 to 65535, not "${values.port}".`);
  }
  if (values.empty && values.seed !== undefined) {
    throw new Error('--seed and --empty exclude each other.');
  }
  await runEmulatorCli({
    port,
    ...(values.empty ? {} : { seedFile: values.seed ?? DEMO_SEED_FILE }),
  });
  return 0;
}

/** A taken port gets its own hint; a usage mistake gets the usage text. */
function describeStartError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') {
    return `the port is already in use (another emulator?): stop that one, or pass --port 0 for a free port.`;
  }
  return `${error instanceof Error ? error.message : String(error)}\n${USAGE}`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`keboola-storage-emulator: ${describeStartError(error)}\n`);
    process.exitCode = 1;
  },
);
