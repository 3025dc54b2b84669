import { createRequire } from 'node:module';
import type { Gelf, GelfAdapter } from 'gelf-pro';
import { pino } from 'pino';

/**
 * gelf-pro and its lodash are loaded when a GELF output is made, not with the job: most runs
 * (a terminal, cron, Kubernetes) log elsewhere, and loading them costs about 4 MB of memory.
 * The built job has them in `gelf-pro.cjs` beside its bundle (scripts/build-job.mjs), so dist/
 * needs no node_modules; run from source (the tests), they come from the package.
 */
const load = createRequire(import.meta.url);
const BUNDLED_GELF_PRO = './gelf-pro.cjs';

function loadGelfPro(): { gelf: Gelf; tcpAdapter: GelfAdapter } {
  try {
    return load(BUNDLED_GELF_PRO) as { gelf: Gelf; tcpAdapter: GelfAdapter };
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
    if (!missing || !String((error as Error).message).includes(BUNDLED_GELF_PRO.slice(2))) {
      throw error;
    }
    return {
      gelf: load('gelf-pro') as Gelf,
      tcpAdapter: load('gelf-pro/lib/adapter/tcp.js') as GelfAdapter,
    };
  }
}

export interface GelfAddress {
  readonly host: string;
  readonly port: number;
}

/** pino level number → syslog severity, which GELF's `level` is (docs/logging.md). */
export function gelfLevel(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2; // critical
  if (pinoLevel >= 50) return 3; // error
  if (pinoLevel >= 40) return 4; // warning
  if (pinoLevel >= 30) return 6; // info
  return 7; // debug
}

/** Cap of one event: the runner fails the job on a message over 200 KB. */
const MAX_MESSAGE_CHARS = 60_000;
const SEND_TIMEOUT_MS = 5_000;

/**
 * Sends already-masked log records as GELF 1.1 over TCP (null-byte framed) through gelf-pro, which
 * adds `version`, `host` (the container's hostname, which the runner checks) and `timestamp`.
 * gelf-pro opens one connection per message; sends are chained so events arrive in log order.
 * A record the server did not take is written to `fallback` as text, so no line is lost.
 */
export class GelfOutput {
  readonly #gelf: Gelf;
  #chain: Promise<void> = Promise.resolve();

  constructor(
    address: GelfAddress,
    private readonly fallback: (line: string) => void,
  ) {
    // Own instances: gelf-pro's module objects are shared singletons.
    const { gelf: gelfPro, tcpAdapter } = loadGelfPro();
    const gelf = Object.create(gelfPro) as Gelf;
    gelf.setConfig({ adapterName: 'tcp', adapterOptions: { ...address } });
    gelf.adapter = (Object.create(tcpAdapter) as GelfAdapter).setOptions({
      host: address.host,
      port: address.port,
      timeout: SEND_TIMEOUT_MS,
    });
    this.#gelf = gelf;
  }

  /** Queues one record; `text` is its plain-text form for the fallback. */
  send(record: Readonly<Record<string, unknown>>, text: string): void {
    const { level, msg, time, ...fields } = record;
    const message = typeof msg === 'string' && msg !== '' ? msg : '(no message)';
    const [firstLine = message] = message.split('\n');
    const extra: Record<string, unknown> = {
      ...flatFields(fields),
      ...(firstLine !== message ? { full_message: message.slice(0, MAX_MESSAGE_CHARS) } : {}),
      ...(typeof time === 'string' ? { timestamp: Date.parse(time) / 1000 } : {}),
    };
    const severity = gelfLevel(pino.levels.values[String(level)] ?? 30);
    this.#chain = this.#chain.then(
      () =>
        new Promise<void>((resolve) => {
          this.#gelf.message(firstLine.slice(0, MAX_MESSAGE_CHARS), severity, extra, (error) => {
            if (error) this.fallback(text);
            resolve();
          });
        }),
    );
  }

  /** Resolves when every queued record was sent (or written to the fallback). */
  flush(): Promise<void> {
    return this.#chain;
  }
}

/**
 * Additional fields as GELF wants them: flat, keys of word characters. Objects become JSON text
 * (gelf-pro would otherwise expand them into many fields and warn on odd keys).
 */
function flatFields(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    const name = key.replace(/[^\w-]/g, '_');
    out[name === 'id' ? 'id_' : name] =
      typeof value === 'object' ? JSON.stringify(value).slice(0, 30_000) : value;
  }
  return out;
}
