/**
 * The emulator's HTTP server: one `node:http` server on 127.0.0.1 serving the Storage API
 * (`/v2/storage/…`), the control API (`/_emulator/…`) and the object store (everything else);
 * `node:https` instead when a certificate is given, as every real Storage stack and cloud speaks.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleStorageRequest } from './api-pipeline.js';
import { EmulatorClock } from './clock.js';
import { EmulatorControl, handleControlRequest } from './control.js';
import { EmulatorCore } from './core.js';
import { FaultRegistry } from './faults.js';
import { EmulatedObjectStore } from './objects/object-store.js';
import { json, writeResponse, type Route } from './router.js';
import { catalogRoutes } from './routes/catalog-routes.js';
import { exportRoutes } from './routes/export-route.js';
import { fileJobRoutes } from './routes/file-job-routes.js';
import { loadRoutes } from './routes/load-routes.js';
import { moreRoutes, notEmulatedRoutes } from './routes/more-routes.js';
import { tokenRoutes } from './routes/token-routes.js';
import { loadSeedFile, parseSeed, type Seed, type SeedInput } from './seed.js';
import { TableDb } from './table-db.js';

export interface EmulatorOptions {
  /** Listen port on 127.0.0.1; 0 / absent = a free port. */
  readonly port?: number;
  /** Seed document (validated); CSV paths resolve against `seedBaseDir`. */
  readonly seed?: Seed | SeedInput;
  /** Directory for the CSV paths of `seed`; default the current directory. */
  readonly seedBaseDir?: string;
  /** Seed file; CSV paths resolve against its directory. Ignored when `seed` is given. */
  readonly seedFile?: string;
  /** Where DuckDB and the objects live; a temp dir (removed on close) by default. */
  readonly workDir?: string;
  /** Object store: latency before each object GET/PUT answers. */
  readonly firstByteLatencyMs?: number;
  /** Object store: bandwidth cap per connection. */
  readonly bytesPerSecondPerConnection?: number;
  /**
   * The least time (wall clock) from a Storage job's creation to its outcome, in ms: the real
   * service's queue and processing time. Default 0; `control.setJobDurationMs` changes it later.
   */
  readonly jobDurationMs?: number;
  /** No error logging to stderr. */
  readonly quiet?: boolean;
  /**
   * Serve HTTPS with this certificate (PEM) and key: the URL is then `https://127.0.0.1:<port>`,
   * and clients must trust the certificate (Node: `NODE_EXTRA_CA_CERTS`; curl: `--cacert`).
   */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
}

export interface EmulatorHandle {
  /** `http://127.0.0.1:<port>` (`https://` with `tls`), no trailing slash. */
  readonly url: string;
  close(): Promise<void>;
  readonly control: EmulatorControl;
}

const STORAGE_ROUTES: readonly Route[] = [
  ...catalogRoutes,
  ...exportRoutes,
  ...loadRoutes,
  ...fileJobRoutes,
  // After catalogRoutes: `tokens/verify` must match before `tokens/{tokenId}`.
  ...tokenRoutes,
  ...moreRoutes,
  // Last: known real routes that are not emulated answer 501 naming themselves.
  ...notEmulatedRoutes,
];

async function resolveSeed(options: EmulatorOptions): Promise<{ seed: Seed; baseDir: string }> {
  const baseDir = options.seedBaseDir ?? process.cwd();
  if (options.seed) return { seed: parseSeed(options.seed), baseDir };
  if (options.seedFile) return loadSeedFile(options.seedFile);
  return { seed: { projects: [] }, baseDir };
}

/**
 * Starts the emulator with the seed loaded (tables in DuckDB, files empty).
 * @throws SeedError for an invalid seed; the listen error when the port is taken.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const { seed, baseDir } = await resolveSeed(options);
  const ownsWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'kbc-emulator-')));
  await mkdir(join(workDir, 'objects'), { recursive: true });
  const dbPath = join(workDir, 'tables.duckdb');
  await rm(dbPath, { force: true });
  await rm(`${dbPath}.wal`, { force: true });
  const logError = (error: unknown) => {
    if (!options.quiet) process.stderr.write(`emulator: ${errorText(error)}\n`);
  };
  const clock = new EmulatorClock();
  const faults = new FaultRegistry();
  const objectStore = new EmulatedObjectStore({
    rootDir: join(workDir, 'objects'),
    clock,
    faults,
    ...(options.firstByteLatencyMs === undefined
      ? {}
      : { firstByteLatencyMs: options.firstByteLatencyMs }),
    ...(options.bytesPerSecondPerConnection === undefined
      ? {}
      : { bytesPerSecondPerConnection: options.bytesPerSecondPerConnection }),
  });
  const db = await TableDb.open(dbPath);
  /** Closes the tables and removes the work folder when this start made it. */
  const release = async () => {
    await db.close();
    if (ownsWorkDir) await rm(workDir, { recursive: true, force: true });
  };
  const core = new EmulatorCore(db, clock, faults, objectStore, logError);
  const control = new EmulatorControl(core, baseDir);
  try {
    if (options.jobDurationMs !== undefined) core.jobs.setDurationMs(options.jobDurationMs);
    for (const project of seed.projects) await core.addProject(project, baseDir);
  } catch (error) {
    await release();
    throw error;
  }
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    // The Date header is the server clock clients read (watermarks): it follows the emulator clock.
    res.setHeader('Date', new Date(clock.nowMs()).toUTCString());
    route(core, control, req, res, logError).catch((error: unknown) => {
      logError(error);
      if (!res.headersSent)
        writeResponse(res, json(500, { error: 'Internal error', code: 'APPLICATION_ERROR' }));
      else res.destroy();
    });
  };
  const server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler)
    : createServer(handler);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    // A taken port: the tables and the work folder made above are nobody's to remove later.
    await release();
    throw error;
  }
  const scheme = options.tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  core.baseUrl = url;
  objectStore.setBaseUrl(url);
  let closed = false;
  return {
    url,
    control,
    close: async () => {
      if (closed) return;
      closed = true;
      // A held request or write would otherwise hold close() for ever (its job never ends).
      faults.clear();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await stopped;
      await core.jobs.stop();
      await release();
    },
  };
}

async function route(
  core: EmulatorCore,
  control: EmulatorControl,
  req: IncomingMessage,
  res: ServerResponse,
  logError: (error: unknown) => void,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path === '/v2/storage' || path.startsWith('/v2/storage/')) {
    return handleStorageRequest(core, STORAGE_ROUTES, req, res, logError);
  }
  if (path.startsWith('/_emulator/')) return handleControlRequest(control, req, res);
  if (core.objectStore.handle(req, res)) return;
  writeResponse(res, json(404, { error: `Not found: ${path}`, code: 'notFound' }));
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
