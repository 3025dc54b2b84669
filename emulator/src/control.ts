/**
 * Test and tool control of a running emulator: clock, maintenance switch, faults, counters, and
 * direct changes to tables and tokens. The same operations are served as JSON under `/_emulator/…`
 * (see {@link controlRoutes}) so child processes and the Docker image test can drive them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, tableNotFound, validationError } from './api-error.js';
import type { EmulatorCore } from './core.js';
import type { FaultSpec } from './faults.js';
import type { TableState } from './model.js';
import {
  errorResponse,
  json,
  matchRoute,
  parseBody,
  readBody,
  route,
  writeResponse,
  type ApiResponse,
  type Route,
} from './router.js';
import {
  parseSeedTable,
  parseSeedToken,
  type SeedTableInput,
  type SeedTokenInput,
} from './seed.js';
import { tableView } from './views.js';
import { newExceptionId } from './jobs.js';

export interface EmulatorStats {
  /** `"<METHOD> <route template>"` → requests served (Storage API routes only). */
  readonly requests: Readonly<Record<string, number>>;
  /** `"<operationName> <tableId>"` → jobs started. */
  readonly jobStarts: Readonly<Record<string, number>>;
  readonly faultsInjected: number;
  readonly objectStore: ReturnType<EmulatorCore['objectStore']['stats']>;
}

/** Token spec for {@link EmulatorControl.createToken}; the token string is generated when absent. */
export type TokenSpec = Omit<SeedTokenInput, 'token'> & { readonly token?: string };

export class EmulatorControl {
  readonly #core: EmulatorCore;
  readonly #seedBaseDir: string;

  constructor(core: EmulatorCore, seedBaseDir: string) {
    this.#core = core;
    this.#seedBaseDir = seedBaseDir;
  }

  // ---- clock ----
  nowMs(): number {
    return this.#core.clock.nowMs();
  }
  /** Freezes the emulator clock at `ms` (epoch ms). */
  setClock(ms: number): void {
    this.#core.clock.set(ms);
  }
  advanceClock(ms: number): void {
    this.#core.clock.advance(ms);
  }
  releaseClock(): void {
    this.#core.clock.release();
  }

  // ---- jobs ----
  /**
   * Storage jobs created from now on last at least `ms` (wall time) from creation to outcome: the
   * real service's queue and processing time, for benchmarks and poll schedules. 0 = at once.
   */
  setJobDurationMs(ms: number): void {
    this.#core.jobs.setDurationMs(ms);
  }

  // ---- maintenance & faults ----
  /** Every `/v2/storage` request answers 503 + `Retry-After` while on. */
  setMaintenance(on: boolean, options: { retryAfterSeconds?: number; reason?: string } = {}): void {
    this.#core.maintenance.on = on;
    if (options.retryAfterSeconds !== undefined) {
      this.#core.maintenance.retryAfterSeconds = options.retryAfterSeconds;
    }
    if (options.reason !== undefined) this.#core.maintenance.reason = options.reason;
  }
  /**
   * On (the default): the bucket's table list carries each typed table's `definition`. Off: only
   * the table detail does, as the real list may (docs/storage-api-notes.md, Buckets, tables and
   * the token's view).
   */
  setTableListDefinitions(on: boolean): void {
    this.#core.tableListDefinitions = on;
  }
  addFault(spec: FaultSpec): void {
    this.#core.faults.add(spec);
  }
  clearFaults(): void {
    this.#core.faults.clear();
  }
  get injectedCount(): number {
    return this.#core.faults.injectedCount;
  }
  pendingFaults(): FaultSpec[] {
    return this.#core.faults.pending();
  }
  /** Resolves when the fault with this `label` is next applied. */
  whenFaultApplied(label: string): Promise<FaultSpec> {
    return this.#core.faults.whenApplied(label);
  }
  /** Lets every request held by a `hold` fault go on. */
  releaseHolds(): void {
    this.#core.faults.releaseHolds();
  }

  // ---- secrets (for secret scans) ----
  /**
   * Every secret the emulator has handed out so far: Storage API token strings (seeded and
   * created) and the object-store secrets of `EmulatedObjectStore.issuedSecrets()`. Read-only.
   */
  issuedSecrets(): string[] {
    return [...this.#core.state.tokens.keys(), ...this.#core.objectStore.issuedSecrets()];
  }

  // ---- counters ----
  stats(): EmulatorStats {
    const state = this.#core.state;
    return {
      requests: Object.fromEntries(state.requestCounts),
      jobStarts: Object.fromEntries(state.jobStarts),
      faultsInjected: this.#core.faults.injectedCount,
      objectStore: this.#core.objectStore.stats(),
    };
  }
  /** Only the object-store part of {@link issuedSecrets}. */
  objectStoreSecrets(): string[] {
    return this.#core.objectStore.issuedSecrets();
  }
  /** Zeroes the request and job-start counters. */
  resetStats(): void {
    this.#core.state.requestCounts.clear();
    this.#core.state.jobStarts.clear();
  }
  /** Resolves when no job work is running. */
  waitForJobs(): Promise<void> {
    return this.#core.jobs.idle();
  }

  // ---- tables ----
  #table(projectId: number, tableId: string): TableState {
    const table = this.#core.state.findTable(projectId, tableId);
    if (!table) throw tableNotFound(tableId, '', projectId);
    return table;
  }

  /** Every row as an object (`_timestamp` as unix seconds). */
  tableRows(projectId: number, tableId: string): Promise<Record<string, unknown>[]> {
    const table = this.#table(projectId, tableId);
    return this.#core.db.readAllRows(table.physical);
  }

  /**
   * Upserts rows by `primaryKey` (default: the table's; none → append), stamping `_timestamp`
   * with the emulator clock. Missing values are ''.
   */
  async upsertRows(
    projectId: number,
    tableId: string,
    rows: readonly Readonly<Record<string, string>>[],
    options: { primaryKey?: readonly string[] } = {},
  ): Promise<void> {
    const table = this.#table(projectId, tableId);
    const key = options.primaryKey ?? table.primaryKey;
    const values = this.#rowValues(table, rows);
    const ts = this.#core.clock.nowSeconds();
    if (key.length === 0) await this.#core.db.insertRows(table.physical, table.columns, values, ts);
    else await this.#core.db.upsertLiteralRows(table.physical, table.columns, key, values, ts);
    await this.#changed(table);
  }

  /** Drops a table (as a user deleting it in the UI): its rows and metadata are gone. */
  async dropTable(projectId: number, tableId: string): Promise<void> {
    const table = this.#table(projectId, tableId);
    this.#core.state.project(projectId)?.buckets.get(table.bucketId)?.tables.delete(table.name);
    await this.#core.db.dropTable(table.physical);
  }

  /** Appends rows stamped with the emulator clock. */
  async insertRows(
    projectId: number,
    tableId: string,
    rows: readonly Readonly<Record<string, string>>[],
  ): Promise<void> {
    const table = this.#table(projectId, tableId);
    const values = this.#rowValues(table, rows);
    await this.#core.db.insertRows(
      table.physical,
      table.columns,
      values,
      this.#core.clock.nowSeconds(),
    );
    await this.#changed(table);
  }

  /** Deletes rows equal to one of `matches` on the given fields. Returns rows deleted. */
  async deleteRows(
    projectId: number,
    tableId: string,
    matches: readonly Readonly<Record<string, string>>[],
  ): Promise<number> {
    const table = this.#table(projectId, tableId);
    this.#rowValues(table, matches);
    const deleted = await this.#core.db.deleteMatching(table.physical, matches);
    await this.#changed(table);
    return deleted;
  }

  #rowValues(table: TableState, rows: readonly Readonly<Record<string, string>>[]): string[][] {
    return rows.map((row) => {
      const unknown = Object.keys(row).filter((c) => !table.columns.includes(c));
      if (unknown.length > 0) {
        throw validationError(
          'storage.tables.validation.columnNotExists',
          `Unknown columns: ${unknown.join(', ')}`,
        );
      }
      return table.columns.map((c) => String(row[c] ?? ''));
    });
  }

  async #changed(table: TableState): Promise<void> {
    this.#core.markChanged(table);
    await this.#core.refreshStats(table);
  }

  /** Creates a table (seed table spec; CSV paths relative to the seed's directory). */
  async createTable(
    projectId: number,
    bucketId: string,
    spec: SeedTableInput,
  ): Promise<Record<string, unknown>> {
    const table = await this.#core.createTable(
      projectId,
      bucketId,
      parseSeedTable(spec),
      this.#seedBaseDir,
    );
    const project = this.#core.requireProject(projectId);
    return tableView(table, this.#core.bucketOf(table), project, this.#core.baseUrl);
  }

  // ---- tokens ----
  /** Adds a token to a project; returns its token string (a fake local secret). */
  createToken(projectId: number, spec: TokenSpec = {}): string {
    this.#core.requireProject(projectId);
    const token = spec.token ?? this.#core.newTokenString(projectId);
    const tokenSpec = parseSeedToken({ ...spec, token });
    if (!token.startsWith(`${projectId}-`)) {
      throw validationError(
        'storage.tokens.validation',
        `Token strings start with "${projectId}-".`,
      );
    }
    const project = this.#core.requireProject(projectId);
    for (const bucketId of Object.keys(tokenSpec.bucketPermissions ?? {})) {
      if (!project.buckets.has(bucketId)) {
        throw validationError('storage.tokens.invalidPermissions', `Unknown bucket "${bucketId}".`);
      }
    }
    return this.#core.addToken(projectId, tokenSpec).token;
  }

  /** The token string stops working (401 `storage.tokenInvalid`), as after a refresh. */
  revokeToken(token: string): void {
    const state = this.#core.state.tokens.get(token);
    if (state) state.revoked = true;
  }

  /** The token expires now (401 `storage.tokenInvalid` on every endpoint, as for any dead token). */
  expireToken(token: string): void {
    const state = this.#core.state.tokens.get(token);
    if (state) state.expiresMs = this.#core.clock.nowMs();
  }
}

type ControlHandler = (
  control: EmulatorControl,
  body: Record<string, unknown>,
  params: Record<string, string>,
) => unknown;

const num = (value: unknown): number => Number(value);
const rows = (value: unknown) => (Array.isArray(value) ? value : []) as Record<string, string>[];

/** `/_emulator/…` JSON routes mirroring {@link EmulatorControl}. */
const controlRoutes: readonly Route<ControlHandler>[] = [
  route<ControlHandler>('GET', '/_emulator/clock', (c) => ({ nowMs: c.nowMs() })),
  route<ControlHandler>('POST', '/_emulator/clock/set', (c, b) => c.setClock(num(b.ms))),
  route<ControlHandler>('POST', '/_emulator/clock/advance', (c, b) => c.advanceClock(num(b.ms))),
  route<ControlHandler>('POST', '/_emulator/clock/release', (c) => c.releaseClock()),
  route<ControlHandler>('POST', '/_emulator/jobs/duration', (c, b) =>
    c.setJobDurationMs(num(b.ms)),
  ),
  route<ControlHandler>('POST', '/_emulator/maintenance', (c, b) => {
    const options: { retryAfterSeconds?: number; reason?: string } = {};
    if (b.retryAfterSeconds !== undefined) options.retryAfterSeconds = num(b.retryAfterSeconds);
    if (typeof b.reason === 'string') options.reason = b.reason;
    c.setMaintenance(b.on === true, options);
  }),
  route<ControlHandler>('POST', '/_emulator/table-list', (c, b) =>
    c.setTableListDefinitions(b.definitions !== false),
  ),
  route<ControlHandler>('POST', '/_emulator/faults', (c, b) =>
    c.addFault(b as unknown as FaultSpec),
  ),
  route<ControlHandler>('DELETE', '/_emulator/faults', (c) => c.clearFaults()),
  route<ControlHandler>('POST', '/_emulator/faults/release', (c) => c.releaseHolds()),
  route<ControlHandler>('GET', '/_emulator/faults', (c) => ({
    injectedCount: c.injectedCount,
    pending: c.pendingFaults(),
  })),
  route<ControlHandler>('GET', '/_emulator/stats', (c) => c.stats()),
  route<ControlHandler>('POST', '/_emulator/stats/reset', (c) => c.resetStats()),
  route<ControlHandler>('GET', '/_emulator/secrets', (c) => ({ secrets: c.issuedSecrets() })),
  route<ControlHandler>(
    'GET',
    '/_emulator/projects/{projectId}/tables/{tableId}/rows',
    (c, _b, p) => c.tableRows(num(p.projectId), p.tableId ?? ''),
  ),
  route<ControlHandler>(
    'POST',
    '/_emulator/projects/{projectId}/tables/{tableId}/rows/upsert',
    (c, b, p) => {
      const options = Array.isArray(b.primaryKey) ? { primaryKey: b.primaryKey.map(String) } : {};
      return c.upsertRows(num(p.projectId), p.tableId ?? '', rows(b.rows), options);
    },
  ),
  route<ControlHandler>(
    'POST',
    '/_emulator/projects/{projectId}/tables/{tableId}/rows/insert',
    (c, b, p) => c.insertRows(num(p.projectId), p.tableId ?? '', rows(b.rows)),
  ),
  route<ControlHandler>(
    'POST',
    '/_emulator/projects/{projectId}/tables/{tableId}/rows/delete',
    async (c, b, p) => ({
      deleted: await c.deleteRows(num(p.projectId), p.tableId ?? '', rows(b.matches)),
    }),
  ),
  route<ControlHandler>('POST', '/_emulator/projects/{projectId}/tokens', (c, b, p) => ({
    token: c.createToken(num(p.projectId), b),
  })),
  route<ControlHandler>('POST', '/_emulator/tokens/revoke', (c, b) =>
    c.revokeToken(String(b.token)),
  ),
  route<ControlHandler>('POST', '/_emulator/tokens/expire', (c, b) =>
    c.expireToken(String(b.token)),
  ),
  route<ControlHandler>(
    'POST',
    '/_emulator/projects/{projectId}/buckets/{bucketId}/tables',
    (c, b, p) => c.createTable(num(p.projectId), p.bucketId ?? '', b as SeedTableInput),
  ),
];

/** Serves one `/_emulator/…` request. Errors answer as Storage-style JSON errors. */
export async function handleControlRequest(
  control: EmulatorControl,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator');
  let response: ApiResponse;
  try {
    const matched = matchRoute(controlRoutes, (req.method ?? 'GET').toUpperCase(), url.pathname);
    if (!matched) throw new ApiError(404, 'notFound', `Unknown control route ${url.pathname}`);
    const body = parseBody(await readBody(req), req.headers['content-type']);
    const result: unknown = await matched.route.handler(control, body, matched.params);
    response = json(200, result ?? { ok: true });
  } catch (error) {
    const apiError =
      error instanceof ApiError
        ? error
        : new ApiError(
            400,
            'emulator.control',
            error instanceof Error ? error.message : String(error),
          );
    response = errorResponse(apiError, newExceptionId());
  }
  writeResponse(res, response);
}
