/**
 * The chaos soak (docs/faults.md, "The chaos soak"): randomized rounds of source changes, runs,
 * SIGKILLs, lost or older state files, overlapping runs and emulator faults against one emulator
 * in standalone mode, then a settle and an exactly-once check of every table. Every choice comes
 * from a seeded PRNG, so a failing round is named by its seed and prints its steps; the timing of
 * the runs (when a kill lands) is real time, so a replay hits the same steps, not always the same
 * interleaving.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmulator, type EmulatorHandle, type FaultSpec } from 'keboola-storage-emulator';
import { compareRows, rowValues, type RowComparison } from './fault-matrix.js';
import { makeDataDir, removeDir, runCli, startCliProcess, type CliResult } from './run-cli.js';
import { secretForms } from './secret-scan.js';

const SOURCE_PROJECT = 101;
const DEST_PROJECT = 202;
const SOURCE_BUCKET = 'in.c-src';
const DEST_BUCKET = 'in.c-dst';
const SOURCE_TOKEN = '101-1001-50a450a450a450a4000000000000000000000001';
const DEST_TOKEN = '202-2001-50a450a450a450a4000000000000000000000002';
const T0_MS = Date.parse('2025-09-01T00:00:00Z');
const COLUMNS = ['id', 'value'];
const FOLDERS = ['A', 'B', 'C'] as const;
/** Every run is stopped after this (real time): no step can hang. */
const RUN_TIMEOUT_MS = 60_000;

type SoakMode = 'full' | 'append' | 'upsert';

/** mulberry32: a small seeded PRNG; the same seed gives the same round. */
class Prng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

interface TableSpec {
  readonly name: string;
  readonly mode: SoakMode;
  /** Full load only: also configure the primary key (the destination gets one). */
  readonly fullWithKey: boolean;
  readonly initialRows: number;
  readonly sliceRows: number;
}

/** How a run's in/state.json is prepared. */
type StatePrep = 'carry' | 'none' | 'old' | 'keep';

/** How a run ends: on its own, SIGKILL after a delay or at a labelled fault, SIGTERM after a delay. */
type RunEnd =
  | { readonly kind: 'clean' }
  | { readonly kind: 'kill'; readonly afterMs: number }
  | { readonly kind: 'killAt'; readonly point: string; readonly fault: FaultSpec }
  | { readonly kind: 'term'; readonly afterMs: number };

interface RunSpec {
  readonly folder: (typeof FOLDERS)[number];
  readonly state: StatePrep;
  readonly end: RunEnd;
  /** Without KBC_RUNID the job makes a random run id. */
  readonly withRunId: boolean;
  /** `--table` or `--full-refresh` arguments (docs/standalone.md, Per-table reruns). */
  readonly args: readonly string[];
  /** Started this long after the step began (overlapping runs). */
  readonly startMs: number;
}

interface Mutation {
  readonly table: string;
  readonly inserts: number;
  readonly updates: number;
}

type Step =
  | { readonly kind: 'mutate'; readonly mutation: Mutation }
  | { readonly kind: 'clock'; readonly ms: number }
  | { readonly kind: 'drop'; readonly table: string }
  | {
      readonly kind: 'runs';
      readonly runs: readonly RunSpec[];
      readonly faults: readonly FaultSpec[];
      /** Source changes and a small clock advance while the runs go: at ms after the start. */
      readonly during: readonly { readonly atMs: number; readonly mutation: Mutation }[];
      readonly clockDuringMs: number;
    };

export interface SoakRoundPlan {
  readonly seed: number;
  /** The emulator clock runs (real time plus the steps' advances) instead of standing still. */
  readonly runningClock: boolean;
  readonly tables: readonly TableSpec[];
  readonly parallelism: number;
  readonly steps: readonly Step[];
}

export interface SoakLimits {
  /** Upper bound of steps before the settle. */
  readonly maxSteps: number;
  /** The claims' lease (`KBC_TABLE_SYNC_CLAIM_LEASE_MS`), emulator clock. */
  readonly leaseMs: number;
  /** Upper bound of a random kill delay. */
  readonly maxKillMs: number;
  /** Whether steps may drop a destination table (as a user would). */
  readonly drops: boolean;
}

export const DEFAULT_LIMITS: SoakLimits = {
  maxSteps: 14,
  leaseMs: 20_000,
  maxKillMs: 1_500,
  drops: true,
};

/** Kill points: a labelled fault marks the moment (see test/helpers/crash-matrix.ts). */
function killPoint(rng: Prng): { point: string; fault: FaultSpec } {
  const skip = rng.int(0, 5);
  const choices: Array<{ point: string; fault: FaultSpec }> = [
    {
      point: 'export job created',
      fault: { kind: 'hold', afterHandling: true, method: 'POST', path: '/export-async' },
    },
    {
      point: `metadata write ${skip} landed`,
      fault: { kind: 'hold', afterHandling: true, method: 'POST', path: '/metadata', skip },
    },
    {
      point: `metadata write ${skip} not sent`,
      fault: { kind: 'hold', method: 'POST', path: '/metadata', skip },
    },
    {
      point: 'import job created',
      fault: { kind: 'hold', afterHandling: true, method: 'POST', path: '/import-async' },
    },
    {
      point: 'table create started',
      fault: { kind: 'hold', afterHandling: true, method: 'POST', path: '/tables-async' },
    },
    {
      point: 'claim release not sent',
      fault: { kind: 'hold', method: 'DELETE', path: '/metadata/', skip: rng.int(0, 2) },
    },
    {
      point: 'job poll',
      fault: { kind: 'hold', method: 'GET', path: '/jobs/', skip: rng.int(0, 6) },
    },
    {
      point: 'destination table read',
      fault: { kind: 'hold', method: 'GET', path: `/tables/${DEST_BUCKET}.`, skip: rng.int(0, 3) },
    },
  ];
  return rng.pick(choices);
}

/** A transient fault a correct job survives (or fails a table cleanly for). */
function randomFault(rng: Prng): FaultSpec {
  const status = rng.pick([500, 502, 503, 504]);
  const choices: FaultSpec[] = [
    { kind: 'status', status, path: '/metadata', count: rng.int(1, 3) },
    { kind: 'status', status, afterHandling: true, method: 'POST', path: '/metadata' },
    { kind: 'status', status, afterHandling: true, method: 'DELETE', path: '/metadata/' },
    {
      kind: 'reset',
      afterBytes: rng.int(0, 40),
      afterHandling: true,
      method: 'POST',
      path: '/metadata',
    },
    { kind: 'status', status: 502, afterHandling: true, method: 'POST', path: '/import-async' },
    {
      kind: 'status',
      status: 504,
      handleAfterMs: rng.int(100, 1_500),
      method: 'POST',
      path: '/import-async',
    },
    {
      kind: 'reset',
      afterBytes: rng.int(0, 40),
      afterHandling: true,
      method: 'POST',
      path: '/import-async',
    },
    { kind: 'status', status, afterHandling: true, method: 'POST', path: '/export-async' },
    { kind: 'status', status: 500, afterHandling: true, method: 'POST', path: '/tables-async' },
    { kind: 'status', status, method: 'GET', path: '/jobs', count: rng.int(1, 3) },
    {
      kind: 'status',
      status,
      method: 'GET',
      path: `/tables/${DEST_BUCKET}.`,
      count: rng.int(1, 2),
    },
    {
      kind: 'latency',
      // Now and then longer than a third of the lease: the run's claim is too old to write under.
      ms: rng.chance(0.2) ? rng.int(6_000, 9_000) : rng.int(100, 2_000),
      path: rng.pick(['/metadata', '/jobs', '/import-async', '/files']),
    },
    {
      kind: 'jobError',
      code: 'soak.error',
      message: 'Injected import error',
      method: 'POST',
      path: '/import-async',
    },
    {
      kind: 'holdWrites',
      method: 'POST',
      path: rng.pick(['/import-async', '/tables-async', '/metadata']),
    },
  ];
  return rng.pick(choices);
}

function randomMutation(rng: Prng, tables: readonly TableSpec[]): Mutation {
  const table = rng.pick(tables).name;
  return { table, inserts: rng.int(0, 3), updates: rng.int(rng.chance(0.3) ? 1 : 0, 3) };
}

function randomRun(
  rng: Prng,
  folder: (typeof FOLDERS)[number],
  limits: SoakLimits,
  tables: readonly TableSpec[],
): RunSpec {
  const roll = rng.next();
  let end: RunEnd;
  if (roll < 0.45) end = { kind: 'clean' };
  else if (roll < 0.7) end = { kind: 'kill', afterMs: rng.int(0, limits.maxKillMs) };
  else if (roll < 0.92) end = { kind: 'killAt', ...killPoint(rng) };
  else end = { kind: 'term', afterMs: rng.int(0, limits.maxKillMs) };
  const state = rng.pick<StatePrep>(['carry', 'carry', 'carry', 'none', 'old', 'keep']);
  const withRunId = rng.chance(0.8);
  const argRoll = rng.next();
  const args =
    argRoll < 0.1
      ? ['--table', rng.pick(tables).name]
      : argRoll < 0.14
        ? ['--full-refresh', rng.pick(tables).name]
        : [];
  return { folder, state, end, withRunId, args, startMs: 0 };
}

/** The round a seed stands for: its tables and steps. */
export function planRound(seed: number, limits: SoakLimits = DEFAULT_LIMITS): SoakRoundPlan {
  const rng = new Prng(seed);
  const tables: TableSpec[] = Array.from({ length: rng.int(1, 3) }, (_, i) => {
    const mode = rng.pick<SoakMode>(['full', 'append', 'upsert']);
    return {
      name: `t${i}_${mode}`,
      mode,
      fullWithKey: mode === 'full' && rng.chance(0.5),
      initialRows: rng.int(0, 6),
      sliceRows: rng.int(1, 3),
    };
  });
  const steps: Step[] = [];
  const count = rng.int(3, limits.maxSteps);
  for (let i = 0; i < count; i += 1) {
    const roll = rng.next();
    if (roll < 0.25) steps.push({ kind: 'mutate', mutation: randomMutation(rng, tables) });
    else if (roll < 0.37) {
      // Mostly short steps; now and then past the lease, so a dead run's claim lapses.
      const ms = rng.chance(0.3) ? limits.leaseMs + rng.int(0, 5_000) : rng.int(0, 8_000);
      steps.push({ kind: 'clock', ms });
    } else if (roll < 0.41) {
      const table = rng.pick(tables).name;
      if (limits.drops) steps.push({ kind: 'drop', table });
    } else {
      const overlap = rng.chance(0.4);
      const folders = overlap
        ? FOLDERS.slice(0, rng.int(2, 3)).map((f) => (rng.chance(0.1) ? 'A' : f))
        : [rng.pick(FOLDERS)];
      const runs = folders.map((folder, i) => ({
        ...randomRun(rng, folder, limits, tables),
        startMs: i > 0 && rng.chance(0.5) ? rng.int(0, 1_200) : 0,
      }));
      const faults = rng.chance(0.35)
        ? Array.from({ length: rng.int(1, 2) }, () => randomFault(rng))
        : [];
      const during = rng.chance(overlap ? 0.6 : 0.3)
        ? Array.from({ length: rng.int(1, 2) }, () => ({
            atMs: rng.int(0, 2_000),
            mutation: randomMutation(rng, tables),
          }))
        : [];
      const clockDuringMs = rng.chance(0.3) ? rng.int(0, 2_000) : 0;
      steps.push({ kind: 'runs', runs, faults, during, clockDuringMs });
    }
  }
  const runningClock = rng.chance(0.3);
  return {
    seed,
    tables,
    parallelism: rng.int(1, 3),
    runningClock,
    // A held source change is stamped before it lands; with a running clock a window could end
    // after its stamp and before it lands (no job could see such a row; not what is tested).
    steps: runningClock
      ? steps.map((step) =>
          step.kind === 'runs'
            ? { ...step, faults: step.faults.filter((f) => f.kind !== 'holdWrites') }
            : step,
        )
      : steps,
  };
}

function describeRun(run: RunSpec): string {
  const end = run.end;
  const how =
    end.kind === 'clean'
      ? 'to its end'
      : end.kind === 'kill'
        ? `SIGKILL after ${end.afterMs} ms`
        : end.kind === 'term'
          ? `SIGTERM after ${end.afterMs} ms`
          : `SIGKILL at ${end.point}`;
  const args = run.args.length > 0 ? ` ${run.args.join(' ')}` : '';
  const start = run.startMs > 0 ? `@${run.startMs}ms ` : '';
  return `${start}${run.folder}(state ${run.state}${run.withRunId ? '' : ', no KBC_RUNID'})${args} ${how}`;
}

function describeMutation(m: Mutation): string {
  return `${m.table} +${m.inserts} new, ${m.updates} updated`;
}

function describeStep(step: Step): string {
  switch (step.kind) {
    case 'mutate':
      return `source: ${describeMutation(step.mutation)}`;
    case 'clock':
      return `clock +${step.ms} ms`;
    case 'drop':
      return `drop destination ${step.table}`;
    case 'runs': {
      const parts = [step.runs.map(describeRun).join(' || ')];
      if (step.faults.length > 0) parts.push(`faults ${JSON.stringify(step.faults)}`);
      if (step.during.length > 0) {
        parts.push(
          `during: ${step.during.map((d) => `@${d.atMs}ms ${describeMutation(d.mutation)}`).join('; ')}`,
        );
      }
      if (step.clockDuringMs > 0) parts.push(`clock +${step.clockDuringMs} ms during`);
      return `run ${parts.join(', ')}`;
    }
  }
}

export function describePlan(plan: SoakRoundPlan): string[] {
  return [
    `seed ${plan.seed}: ${plan.runningClock ? 'running' : 'frozen'} clock, parallelism ${plan.parallelism}, tables ${plan.tables
      .map(
        (t) =>
          `${t.name}(${t.initialRows} rows, slices of ${t.sliceRows}${t.fullWithKey ? ', key' : ''})`,
      )
      .join(', ')}`,
    ...plan.steps.map((step, i) => `  ${i + 1}. ${describeStep(step)}`),
  ];
}

interface SoakFinding {
  readonly table: string;
  readonly what: string;
  readonly comparison?: RowComparison;
  readonly detail?: string;
}

export interface SoakCounts {
  rounds: number;
  runs: number;
  kills: number;
  terms: number;
  faults: number;
  exits: Record<string, number>;
  /** Why runs ended 1 (the first line that says), with how often. */
  exit1: Record<string, number>;
}

export function emptyCounts(): SoakCounts {
  return {
    rounds: 0,
    runs: 0,
    kills: 0,
    terms: 0,
    faults: 0,
    exits: {},
    exit1: {},
  };
}

export interface SoakRoundResult {
  readonly plan: SoakRoundPlan;
  readonly findings: readonly SoakFinding[];
  /** What happened, step by step (exit codes, skips), for the report of a failing round. */
  readonly log: readonly string[];
}

/** Source rows as the harness wrote them: every version of every key. */
class SourceModel {
  /** Per table: id → values in order (the last is the current one). */
  readonly versions = new Map<string, Map<string, string[]>>();
  /** Per table: `id value` → an upper bound of that version's `_timestamp` (unix seconds). */
  readonly stamps = new Map<string, Map<string, number>>();
  /**
   * Append tables: versions a run that ended 0 without skipping the table must have copied (they
   * were current from before its start to its end, stamped before it started), so the
   * destination must hold them even after newer versions replaced them.
   */
  readonly required = new Map<string, Set<string>>();
  #nextId = new Map<string, number>();

  init(table: string, rows: number, stampAt: number): string[][] {
    const map = new Map<string, string[]>();
    const out: string[][] = [];
    for (let i = 1; i <= rows; i += 1) {
      const id = String(i);
      map.set(id, [`${id}.0`]);
      out.push([id, `${id}.0`]);
    }
    this.stamps.set(
      table,
      new Map(out.map(([id, value]) => [versionKey(id ?? '', value ?? ''), stampAt])),
    );
    this.versions.set(table, map);
    this.#nextId.set(table, rows + 1);
    return out;
  }

  /** The rows to upsert for a mutation (new ids, and new versions of existing ones). */
  change(rng: Prng, m: Mutation): Record<string, string>[] {
    const map = this.versions.get(m.table);
    if (!map) throw new Error(`unknown table ${m.table}`);
    const rows: Record<string, string>[] = [];
    const ids = [...map.keys()];
    const updated = new Set<string>();
    for (let i = 0; i < m.updates && ids.length > 0; i += 1) {
      const id = rng.pick(ids);
      if (updated.has(id)) continue;
      updated.add(id);
      const list = map.get(id) ?? [];
      const value = `${id}.${list.length}`;
      list.push(value);
      rows.push({ id, value });
    }
    for (let i = 0; i < m.inserts; i += 1) {
      const next = this.#nextId.get(m.table) ?? 1;
      this.#nextId.set(m.table, next + 1);
      const id = String(next);
      map.set(id, [`${id}.0`]);
      rows.push({ id, value: `${id}.0` });
    }
    return rows;
  }

  /** Records that `rows` of `table` were stamped at or before `seconds`. */
  stamp(table: string, rows: readonly Record<string, string>[], seconds: number): void {
    const stamps = this.stamps.get(table);
    for (const row of rows) stamps?.set(versionKey(row.id ?? '', row.value ?? ''), seconds);
  }

  /** The current versions of every table stamped before `seconds`. */
  currentBefore(seconds: number): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [table, map] of this.versions) {
      const stamps = this.stamps.get(table);
      const keys = [...map].map(([id, list]) => versionKey(id, list.at(-1) ?? ''));
      out.set(
        table,
        keys.filter((k) => (stamps?.get(k) ?? Infinity) < seconds),
      );
    }
    return out;
  }

  isCurrent(table: string, key: string): boolean {
    const [id = '', value] = key.split('\u0000');
    return this.versions.get(table)?.get(id)?.at(-1) === value;
  }

  require(table: string, keys: readonly string[]): void {
    const set = this.required.get(table) ?? new Set<string>();
    for (const key of keys) set.add(key);
    this.required.set(table, set);
  }

  /** The destination table was replaced (full refresh) or dropped: older versions may go. */
  forget(table: string): void {
    this.required.delete(table);
  }
}

function versionKey(id: string, value: string): string {
  return `${id}\u0000${value}`;
}

interface RunOutcome {
  readonly spec: RunSpec;
  readonly result: CliResult;
  /** Per table, the versions this run must have copied, if it ended 0 without skipping it. */
  readonly copied: Map<string, string[]>;
}

/** Runs one round: plan, execute, settle, check. Never throws for a finding; returns it. */
export function runRound(
  seed: number,
  limits: SoakLimits = DEFAULT_LIMITS,
  counts: SoakCounts = emptyCounts(),
): Promise<SoakRoundResult> {
  return runPlan(planRound(seed, limits), limits, counts);
}

/**
 * The plan of `seed` with only the steps `keep` (1-based), to reduce a failing round by hand
 * (`KBC_SOAK_STEPS`).
 */
export function keepSteps(plan: SoakRoundPlan, keep: readonly number[]): SoakRoundPlan {
  return { ...plan, steps: plan.steps.filter((_, i) => keep.includes(i + 1)) };
}

/** Runs a round's plan, settles and checks every table. */
export async function runPlan(
  plan: SoakRoundPlan,
  limits: SoakLimits = DEFAULT_LIMITS,
  counts: SoakCounts = emptyCounts(),
): Promise<SoakRoundResult> {
  const seed = plan.seed;
  // A second stream of choices for the data itself, so the plan stays stable when it changes.
  const dataRng = new Prng(seed ^ 0x5eed5eed);
  const model = new SourceModel();
  const log: string[] = [];
  const findings: SoakFinding[] = [];
  const emulator = await startEmulator({
    port: 0,
    quiet: true,
    seed: {
      projects: [
        {
          id: SOURCE_PROJECT,
          name: 'Soak source',
          fileStorageProvider: 'aws',
          buckets: [
            {
              id: SOURCE_BUCKET,
              tables: plan.tables.map((t) => ({
                name: t.name,
                columns: COLUMNS,
                primaryKey: ['id'],
                rows: model.init(t.name, t.initialRows, T0_MS / 1000 - 3_600),
                sliceRows: t.sliceRows,
                timestamp: T0_MS / 1000 - 3_600,
              })),
            },
          ],
          tokens: [{ token: SOURCE_TOKEN, bucketPermissions: { [SOURCE_BUCKET]: 'read' } }],
        },
        {
          id: DEST_PROJECT,
          name: 'Soak destination',
          fileStorageProvider: 'aws',
          buckets: [{ id: DEST_BUCKET, tables: [] }],
          tokens: [{ token: DEST_TOKEN, bucketPermissions: { [DEST_BUCKET]: 'write' } }],
        },
      ],
    },
  });
  emulator.control.setClock(T0_MS);
  if (plan.runningClock) emulator.control.releaseClock();
  const config = {
    parameters: {
      '#token': SOURCE_TOKEN,
      url: emulator.url,
      parallelism: plan.parallelism,
      // Exact windows: the expectation reasons on the emulator clock at each run's start (the
      // default lag has its own test, window-lag.test.ts).
      lagSeconds: 0,
      tables: plan.tables.map((t) => ({
        name: t.name,
        ...(t.mode === 'full' ? {} : { changedSince: 'lastRun' }),
        incremental: t.mode !== 'full',
        ...(t.mode === 'upsert' || t.fullWithKey ? { primaryKey: ['id'] } : {}),
      })),
      destination: { url: emulator.url, '#token': DEST_TOKEN, bucket: DEST_BUCKET },
    },
  };
  const dirs = new Map<string, string>();
  for (const folder of FOLDERS) dirs.set(folder, await makeDataDir(config));
  /** Every out/state.json a folder had, oldest first (for "an older state file"). */
  const history = new Map<string, string[]>(FOLDERS.map((f) => [f, []]));
  const secrets = () => [SOURCE_TOKEN, DEST_TOKEN, ...emulator.control.objectStoreSecrets()];
  let runNumber = 0;

  const mutate = async (m: Mutation) => {
    const rows = model.change(dataRng, m);
    if (rows.length > 0) {
      await emulator.control.upsertRows(SOURCE_PROJECT, `${SOURCE_BUCKET}.${m.table}`, rows);
      model.stamp(m.table, rows, Math.floor(emulator.control.nowMs() / 1000));
    }
  };
  /**
   * Source changes and clock moves during a step, one at a time. The emulator stamps a change
   * with its clock and then writes it, so a clock moved in between would let a run's window end
   * after a row's stamp before the row is there (seed 20261228: the row was lost). That is a
   * load running during an export with `lagSeconds: 0`, which docs/configuration.md rules out
   * (the lag is set above the longest load); window-lag.test.ts tests the lag itself.
   */
  let sourceOps: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(op: () => T | Promise<T>): Promise<T> => {
    const next = sourceOps.then(op);
    sourceOps = next.catch(() => undefined);
    return next;
  };

  const prepareState = async (folder: string, prep: StatePrep) => {
    const dir = dirs.get(folder) ?? '';
    const inState = join(dir, 'in', 'state.json');
    await mkdir(join(dir, 'in'), { recursive: true });
    const snapshots = history.get(folder) ?? [];
    if (prep === 'none') await rm(inState, { force: true });
    if (prep === 'carry') {
      const latest = snapshots.at(-1);
      if (latest === undefined) await rm(inState, { force: true });
      else await writeFile(inState, latest);
    }
    if (prep === 'old') {
      const older = snapshots.length > 1 ? dataRng.pick(snapshots.slice(0, -1)) : undefined;
      if (older === undefined) await rm(inState, { force: true });
      else await writeFile(inState, older);
    }
  };

  const remember = async (folder: string) => {
    try {
      const text = await readFile(join(dirs.get(folder) ?? '', 'out', 'state.json'), 'utf8');
      const list = history.get(folder) ?? [];
      if (list.at(-1) !== text) list.push(text);
    } catch {
      // no out/state.json (killed before the first table)
    }
  };

  const env = (spec: RunSpec) => {
    runNumber += 1;
    return {
      AWS_ENDPOINT_URL_S3: emulator.url,
      STORAGE_EMULATOR_HOST: emulator.url,
      KBC_TABLE_SYNC_RETRY_BASE_MS: '10',
      KBC_TABLE_SYNC_RETRY_MAX_MS: '80',
      KBC_TABLE_SYNC_RETRY_BUDGET_MS: '5000',
      KBC_TABLE_SYNC_POLL_INITIAL_MS: '10',
      KBC_TABLE_SYNC_POLL_MAX_MS: '50',
      KBC_TABLE_SYNC_JOB_TIMEOUT_MS: '15000',
      KBC_TABLE_SYNC_CLAIM_LEASE_MS: String(limits.leaseMs),
      ...(spec.withRunId ? { KBC_RUNID: `soak-${seed}-${runNumber}` } : {}),
    };
  };

  /** One run of a step; resolves with its result once the process (or main) has ended. */
  /** One run of a step; resolves once the process (or main) has ended. */
  const startRun = async (spec: RunSpec): Promise<RunOutcome> => {
    if (spec.startMs > 0) await sleep(spec.startMs);
    counts.runs += 1;
    const before = model.currentBefore(Math.floor(emulator.control.nowMs() / 1000));
    const result = await execute(spec);
    const copied = new Map<string, string[]>();
    if (result.code === 0) {
      const selected = spec.args[0] === '--table' ? [spec.args[1]] : plan.tables.map((t) => t.name);
      const skipped = skippedTables(result);
      for (const table of plan.tables) {
        if (table.mode !== 'append' || !selected.includes(table.name)) continue;
        if (skipped.includes(`${DEST_BUCKET}.${table.name}`)) continue;
        const keys = before.get(table.name) ?? [];
        copied.set(
          table.name,
          keys.filter((key) => model.isCurrent(table.name, key)),
        );
      }
    }
    return { spec, result, copied };
  };

  /** Versions a step's runs copied become required, unless a run replaced the table. */
  const noteCopied = (outcomes: readonly RunOutcome[]) => {
    const refreshed = new Set(
      outcomes.flatMap(({ spec }) => (spec.args[0] === '--full-refresh' ? [spec.args[1]] : [])),
    );
    for (const table of refreshed) if (table !== undefined) model.forget(table);
    for (const { copied } of outcomes) {
      for (const [table, keys] of copied) if (!refreshed.has(table)) model.require(table, keys);
    }
  };

  const execute = async (spec: RunSpec): Promise<CliResult> => {
    const args = ['--data', dirs.get(spec.folder) ?? '', ...spec.args];
    const end = spec.end;
    if (end.kind === 'clean') {
      return runCli(args, { env: env(spec), timeoutMs: RUN_TIMEOUT_MS });
    }
    if (end.kind === 'term') {
      const child = startCliProcess(args, { env: env(spec), timeoutMs: RUN_TIMEOUT_MS });
      const timer = setTimeout(() => {
        counts.terms += 1;
        child.kill('SIGTERM');
      }, end.afterMs);
      const result = await child.done;
      clearTimeout(timer);
      return result;
    }
    if (end.kind === 'kill') {
      const child = startCliProcess(args, { env: env(spec), timeoutMs: RUN_TIMEOUT_MS });
      const timer = setTimeout(() => child.kill('SIGKILL'), end.afterMs);
      const result = await child.done;
      clearTimeout(timer);
      if (result.signal === 'SIGKILL') counts.kills += 1;
      return result;
    }
    const label = `kill-${runNumber}`;
    const applied = emulator.control.whenFaultApplied(label);
    emulator.control.addFault({ ...end.fault, label });
    const child = startCliProcess(args, { env: env(spec), timeoutMs: RUN_TIMEOUT_MS });
    let reached = false;
    void applied.then(() => {
      reached = true;
      child.kill('SIGKILL');
      // A hold may have caught another run's request: let it go on (a killed client's is dropped).
      setTimeout(() => emulator.control.releaseHolds(), 20);
    });
    const result = await child.done;
    if (!reached) log.push(`    (kill point "${end.point}" not reached)`);
    if (result.signal === 'SIGKILL') counts.kills += 1;
    return result;
  };

  const runStep = async (step: Extract<Step, { kind: 'runs' }>) => {
    let handleAfter = 0;
    for (const fault of step.faults) {
      emulator.control.addFault(fault);
      counts.faults += 1;
      // A request may land this late, after its client is gone: wait for it before the clock moves.
      if (fault.kind === 'status' && fault.handleAfterMs !== undefined) {
        handleAfter = Math.max(handleAfter, fault.handleAfterMs);
      }
      if (fault.kind === 'latency') handleAfter = Math.max(handleAfter, fault.ms);
    }
    const holdsWrites = step.faults.some((f) => f.kind === 'holdWrites');
    const timers: NodeJS.Timeout[] = [];
    const pendingChanges: Promise<void>[] = [];
    for (const change of step.during) {
      pendingChanges.push(
        new Promise((resolve, reject) => {
          timers.push(
            setTimeout(() => {
              oneAtATime(() => mutate(change.mutation)).then(resolve, reject);
            }, change.atMs),
          );
        }),
      );
    }
    // Not while writes are held: a held source change is stamped before it lands, so a window
    // ending after its stamp could miss it (no job could see such a row; not what is tested).
    if (step.clockDuringMs > 0 && !holdsWrites) {
      pendingChanges.push(
        sleep(300).then(() =>
          oneAtATime(() => {
            emulator.control.advanceClock(step.clockDuringMs);
          }),
        ),
      );
    }
    // A busy backend lets go after a while, as a real one would.
    if (holdsWrites) timers.push(setTimeout(() => emulator.control.releaseHolds(), 1_500));
    // Every in/state.json is written before any run starts: a run on the same folder must not
    // read a file the harness is rewriting for the next one.
    for (const run of step.runs) await prepareState(run.folder, run.state);
    const outcomes = await Promise.all(step.runs.map((run) => startRun(run)));
    // Changes planned after the runs ended still happen (within 2 s), in the plan's order.
    await Promise.all(pendingChanges);
    for (const timer of timers) clearTimeout(timer);
    emulator.control.clearFaults();
    if (handleAfter > 0) await sleep(handleAfter + 200);
    await emulator.control.waitForJobs();
    noteCopied(outcomes);
    for (const { spec, result } of outcomes) {
      const key = result.signal ?? String(result.code);
      counts.exits[key] = (counts.exits[key] ?? 0) + 1;
      if (result.code === 1 && !/\S/.test(result.stderr)) {
        // docs/faults.md: a clean failure explains itself on stderr.
        findings.push({
          table: '-',
          what: 'exit 1 without a sentence on stderr',
          detail: `${spec.folder}: stdout ends ${JSON.stringify(result.stdout.slice(-800))}`,
        });
      }
      if (result.code === 1) {
        const why = firstError(result)
          .replace(/\(pid .*$/, '')
          .replace(/\d+/g, 'N')
          .slice(0, 90);
        counts.exit1[why] = (counts.exit1[why] ?? 0) + 1;
      }
      const skips = skippedTables(result).map((t) => `Skipping "${t}"`);
      log.push(
        `    ${spec.folder}: ${result.signal ?? `exit ${result.code}`}${skips.length > 0 ? `, ${skips.join(', ')}` : ''}${
          result.code !== null && result.code !== 0 ? `: ${firstError(result)}` : ''
        }`,
      );
      await remember(spec.folder);
      const leak = leaked(secrets(), result);
      if (leak) findings.push({ table: '-', what: 'secret in output', detail: leak });
      if (result.signal === null && result.code !== 0 && result.code !== 1 && result.code !== 2) {
        findings.push({
          table: '-',
          what: `unexpected exit ${result.code}`,
          detail: firstError(result),
        });
      }
    }
  };

  try {
    for (const [i, step] of plan.steps.entries()) {
      log.push(`  ${i + 1}. ${describeStep(step)}`);
      if (step.kind === 'mutate') await mutate(step.mutation);
      else if (step.kind === 'clock') emulator.control.advanceClock(step.ms);
      else if (step.kind === 'drop') {
        model.forget(step.table);
        try {
          await emulator.control.dropTable(DEST_PROJECT, `${DEST_BUCKET}.${step.table}`);
        } catch {
          log.push('    (no destination table to drop)');
        }
      } else await runStep(step);
    }
    await settle(emulator, limits, log, findings, async () => {
      const spec: RunSpec = {
        folder: 'A',
        state: 'carry',
        end: { kind: 'clean' },
        withRunId: true,
        args: [],
        startMs: 0,
      };
      await prepareState(spec.folder, spec.state);
      const outcome = await startRun(spec);
      noteCopied([outcome]);
      await remember('A');
      return outcome.result;
    });
    for (const table of plan.tables) {
      // Any claim left is a finding, also a lapsed one on a table found unchanged: the run that
      // finds a table unchanged deletes lapsed claims (docs/sync-record.md, Claims).
      findings.push(...(await checkTable(emulator, model, table)));
      const required = [...(model.required.get(table.name) ?? [])];
      const replaced = required.filter((key) => !model.isCurrent(table.name, key)).length;
      if (table.mode === 'append') {
        log.push(`  ${table.name}: ${replaced} replaced versions required in the destination`);
      }
    }
  } catch (error) {
    findings.push({ table: '-', what: 'harness error', detail: String(error) });
  } finally {
    await emulator.close();
    for (const dir of dirs.values()) await removeDir(dir);
  }
  counts.rounds += 1;
  return { plan, findings, log };
}

/** Lets every claim lapse, then runs alone until a run ends 0 with no table skipped (bounded). */
async function settle(
  emulator: EmulatorHandle,
  limits: SoakLimits,
  log: string[],
  findings: SoakFinding[],
  run: () => Promise<CliResult>,
): Promise<CliResult | undefined> {
  const { control } = emulator;
  control.clearFaults();
  await control.waitForJobs();
  for (let attempt = 1; attempt <= 4; attempt += 1) {
    control.advanceClock(limits.leaseMs + 1_000);
    const result = await run();
    const skipped = skippedTables(result).length > 0;
    log.push(
      `  settle ${attempt}: ${result.signal ?? `exit ${result.code}`}${skipped ? ' (a table skipped)' : ''}${
        result.code !== 0 ? `: ${firstError(result)}` : ''
      }`,
    );
    await control.waitForJobs();
    if (result.code === 0 && !skipped) return result;
  }
  findings.push({ table: '-', what: 'no clean run within 4 settle runs' });
  return undefined;
}

/** A table's destination against the docs' expectation for its mode. */
async function checkTable(
  emulator: EmulatorHandle,
  model: SourceModel,
  table: TableSpec,
): Promise<SoakFinding[]> {
  const { control } = emulator;
  const findings: SoakFinding[] = [];
  const versions = model.versions.get(table.name) ?? new Map<string, string[]>();
  const current = [...versions.entries()].map(([id, list]) => [id, list.at(-1) ?? '']);
  const source = rowValues(
    await control.tableRows(SOURCE_PROJECT, `${SOURCE_BUCKET}.${table.name}`),
    COLUMNS,
  );
  // The harness's model and the emulator's source agree (else the harness is wrong).
  const sourceVsModel = compareRows(current, source);
  if (sourceVsModel.lost + sourceVsModel.duplicated + sourceVsModel.unexpected > 0) {
    findings.push({
      table: table.name,
      what: 'harness: source differs from model',
      comparison: sourceVsModel,
    });
  }
  let dest: string[][];
  try {
    dest = rowValues(
      await control.tableRows(DEST_PROJECT, `${DEST_BUCKET}.${table.name}`),
      COLUMNS,
    );
  } catch {
    return [...findings, { table: table.name, what: 'destination table missing after settle' }];
  }
  if (table.mode === 'full' || table.mode === 'upsert') {
    // Full load: the destination equals the source. Upsert: each key once, latest values.
    const comparison = compareRows(current, dest);
    if (comparison.lost + comparison.duplicated + comparison.unexpected > 0) {
      findings.push({
        table: table.name,
        what: `${table.mode}: destination differs from source`,
        comparison,
        detail: diff(current, dest),
      });
    }
  } else {
    // Append: every exported version once. A version replaced before any window read it is never
    // exported, so only the latest version of each key is required; no version may appear twice,
    // and nothing the source never held may appear.
    const known = new Set<string>();
    for (const [id, list] of versions) for (const value of list) known.add(`${id}\u0000${value}`);
    const seen = new Map<string, number>();
    for (const [id, value] of dest) {
      const key = `${id ?? ''}\u0000${value ?? ''}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    const duplicated = [...seen].filter(([, n]) => n > 1);
    const unexpected = [...seen.keys()].filter((k) => !known.has(k));
    const lost = current.filter(([id, value]) => !seen.has(`${id ?? ''}\u0000${value ?? ''}`));
    const currentKeys = new Set(current.map(([id, value]) => versionKey(id ?? '', value ?? '')));
    for (const key of model.required.get(table.name) ?? []) {
      if (!seen.has(key) && !currentKeys.has(key)) lost.push(key.split('\u0000'));
    }
    if (duplicated.length + unexpected.length + lost.length > 0) {
      const show = (k: string) => k.replace('\u0000', ':');
      findings.push({
        table: table.name,
        what: 'append: versions lost, duplicated or unexpected',
        detail: `lost ${JSON.stringify(lost.map((r) => r.join(':')))}, duplicated ${JSON.stringify(
          duplicated.map(([k, n]) => `${show(k)}×${n}`),
        )}, unexpected ${JSON.stringify(unexpected.map(show))}`,
      });
    }
  }
  const items = await syncItems(emulator, table.name);
  const claims = items.filter((m) => m.key.startsWith('kbc-table-sync.claim.'));
  const pending = items.find((m) => m.key === 'kbc-table-sync.pending');
  if (claims.length > 0) {
    findings.push({
      table: table.name,
      what: `${claims.length} claim(s) left after settle`,
      detail: claims.map((c) => `${c.key}=${c.value}`).join(', '),
    });
  }
  if (pending && pending.value !== 'none' && pending.value !== '"none"') {
    findings.push({
      table: table.name,
      what: 'pending intent left after settle',
      detail: pending.value,
    });
  }
  return findings;
}

interface MetadataItem {
  key: string;
  value: string;
  provider: string;
}

async function syncItems(emulator: EmulatorHandle, table: string): Promise<MetadataItem[]> {
  const response = await fetch(
    `${emulator.url}/v2/storage/tables/${DEST_BUCKET}.${table}/metadata`,
    { headers: { 'X-StorageApi-Token': DEST_TOKEN } },
  );
  const items = (await response.json()) as MetadataItem[];
  return items.filter((m) => m.provider === 'kbc-table-sync');
}

function diff(
  expected: readonly (readonly string[])[],
  actual: readonly (readonly string[])[],
): string {
  const e = expected.map((r) => r.join(':'));
  const a = actual.map((r) => r.join(':'));
  const missing = e.filter((r) => !a.includes(r));
  const extra = [...a];
  for (const r of e) {
    const at = extra.indexOf(r);
    if (at >= 0) extra.splice(at, 1);
  }
  return `missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}`;
}

/** The destination tables a run skipped (text or JSON log lines). */
function skippedTables(result: CliResult): string[] {
  const text = result.stdout + result.stderr;
  return [...text.matchAll(/Skipping \\?"([^"\\]+)\\?"/g)].map((m) => m[1] ?? '');
}

function firstError(result: CliResult): string {
  const text = `${result.stderr}\n${result.stdout}`;
  const line = text
    .split('\n')
    .find((l) => /error|fail|refus|Another run|invalid/i.test(l) && !/"level":30/.test(l));
  // Else the run's own sentence: the first line on stderr.
  const said = result.stderr.split('\n').find((l) => /\S/.test(l));
  return (line ?? said ?? text.trim().split('\n').at(-1) ?? '').slice(0, 300);
}

function leaked(secrets: readonly string[], result: CliResult): string | undefined {
  const text = result.stdout + result.stderr;
  for (const secret of secrets) {
    for (const form of secretForms(secret)) {
      if (text.includes(form)) return `a secret of ${secret.length} characters`;
    }
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
