/**
 * `node .build/bench/probe.js <GiB> <variant>...`: a quick memory/CPU probe of the platform
 * job on one generated table (not the benchmark; for tuning). Each variant is
 * `name:NODE_FLAGS|ENV=V,ENV=V`, e.g. `semi2:--max-semi-space-size=2|`; `PROBE_NODE=<path>` in the
 * variant's environment runs the job with another node binary, `PROBE_CLI=<path>` another build of
 * `main.js` (a copy of `dist/` beside it, for A/B runs), `PROBE_STANDALONE=1` a standalone run into
 * a destination project of the same emulator. `PROBE_LOG_DIR=<dir>` in the probe's own
 * environment keeps each run's whole output as `<dir>/<name>.log`; `PROBE_TABLES=<n>` there copies
 * n tables of the size in one run; `PROBE_TLS=1` there serves HTTPS with the test certificate,
 * which every run trusts (`NODE_EXTRA_CA_CERTS`). Each line ends with the run's start and end
 * (ISO time) to line up with the job's log. The probe starts the job from its own process, which
 * holds the emulator: its seconds include the fork of that process (bench/measure.ts,
 * startLauncher), which the benchmark avoids.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startEmulator } from 'keboola-storage-emulator';
import { COLUMNS, CSV_BYTES_PER_ROW, SLICE_ROWS } from './bench-table.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { reapedChildrenCpuSeconds } from './measure.js';
import { benchFolder } from './on-stop.js';

interface Probe {
  startedIso: string;
  endedIso: string;
  code: number | null;
  seconds: number;
  cpuSeconds: number;
  peak: string;
  stdout: string;
  stderr: string;
}

/** The job {@link probe} runs, while it runs: a stopped probe ends it. */
let runningJob: ChildProcess | undefined;

/** Runs the job and keeps the /proc status fields at its highest VmRSS. */
function probe(args: string[], env: NodeJS.ProcessEnv): Promise<Probe> {
  const started = performance.now();
  const startedIso = new Date().toISOString();
  const cpuBefore = reapedChildrenCpuSeconds();
  const child = spawn(env.PROBE_NODE ?? process.execPath, args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runningJob = child;
  child.once('close', () => {
    if (runningJob === child) runningJob = undefined;
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let best = 0;
  let peak = '';
  const poll = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (rss > best) {
        best = rss;
        if (process.env.PROBE_SMAPS) {
          writeFileSync(process.env.PROBE_SMAPS, readFileSync(`/proc/${child.pid}/smaps`));
        }
        peak =
          ['VmRSS', 'RssAnon', 'RssFile', 'VmHWM', 'Threads']
            .map((k) => `${k} ${new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? '?'}`)
            .join(', ') + `, at ${((performance.now() - started) / 1000).toFixed(2)} s`;
      }
    } catch {
      // gone
    }
  }, 20);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearInterval(poll);
      resolve({
        startedIso,
        endedIso: new Date().toISOString(),
        code,
        seconds: (performance.now() - started) / 1000,
        cpuSeconds: reapedChildrenCpuSeconds() - cpuBefore,
        peak,
        stdout,
        stderr,
      });
    });
  });
}

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'main.js');
const TOKEN = `101-1001-${'b'.repeat(40)}`;
const DEST_TOKEN = `202-2001-${'c'.repeat(40)}`;
const sizeGiB = Number(process.argv[2] ?? 1);
const variants = process.argv.slice(3);
/** `PROBE_TABLES=<n>` in the probe's environment: n tables of that size, copied in one run. */
const tableNames = Array.from({ length: Number(process.env.PROBE_TABLES ?? 1) }, (_, i) =>
  i === 0 ? 't' : `t${i + 1}`,
);
const TLS_DIR = join(ROOT, 'test', 'fixtures', 'tls');
const folder = await benchFolder(() => runningJob?.kill('SIGKILL'));
const emulator = await startEmulator({
  port: 0,
  workDir: folder.emulatorDir,
  quiet: true,
  ...(process.env.PROBE_TLS
    ? {
        tls: {
          cert: readFileSync(join(TLS_DIR, 'localhost.crt')),
          key: readFileSync(join(TLS_DIR, 'localhost.key')),
        },
      }
    : {}),
  firstByteLatencyMs: 50,
  bytesPerSecondPerConnection: 40e6,
  seed: {
    projects: [
      {
        id: 101,
        name: 'probe',
        fileStorageProvider: 'aws',
        buckets: [{ id: 'in.c-bench', tables: [] }],
        tokens: [{ token: TOKEN, bucketPermissions: { 'in.c-bench': 'read' } }],
      },
      {
        id: 202,
        name: 'probe destination',
        fileStorageProvider: 'aws',
        buckets: [{ id: 'in.c-copy', tables: [] }],
        tokens: [{ token: DEST_TOKEN, bucketPermissions: { 'in.c-copy': 'write' } }],
      },
    ],
  },
});
try {
  for (const name of tableNames) {
    await emulator.control.createTable(101, 'in.c-bench', {
      name,
      columns: COLUMNS,
      primaryKey: ['id'],
      generate: { rows: Math.round((sizeGiB * 1024 ** 3) / CSV_BYTES_PER_ROW) },
      sliceRows: SLICE_ROWS,
    });
  }
  // The iterator is taken at once: readline drops the lines it reads before anyone iterates, so
  // `echo quit | node probe.js …` would otherwise lose its "quit" while the variants run and wait
  // for ever; a closed stdin also ends the probe.
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const queue = ['warm:|', ...variants];
  const more = async function* () {
    yield* queue;
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      if (next.value.trim()) yield next.value.trim();
    }
  };
  for await (const variant of more()) {
    if (variant === 'quit') break;
    const [name, spec] = variant.split(':') as [string, string];
    const [flags, envText] = spec.split('|') as [string, string | undefined];
    const dir = await mkdtemp(join(tmpdir(), 'kts-probe-'));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      AWS_ENDPOINT_URL_S3: emulator.url,
      ...(process.env.PROBE_TLS ? { NODE_EXTRA_CA_CERTS: join(TLS_DIR, 'localhost.crt') } : {}),
    };
    for (const kv of (envText ?? '').split(',').filter(Boolean)) {
      const [k, v] = kv.split('=') as [string, string];
      env[k] = v;
    }
    const destination = { url: emulator.url, '#token': DEST_TOKEN, bucket: 'in.c-copy' };
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        parameters: {
          '#token': TOKEN,
          url: emulator.url,
          tables: tableNames.map((name) => ({ name })),
          ...(env.PROBE_STANDALONE && { destination }),
        },
      }),
    );
    const args = [...flags.split(' ').filter(Boolean), env.PROBE_CLI ?? CLI, 'run', '--data', dir];
    const m = await probe(args, env);
    await rm(dir, { recursive: true, force: true });
    process.stdout.write(
      `${name}: exit ${m.code} ${m.seconds.toFixed(2)} s, CPU ${m.cpuSeconds.toFixed(2)} s, ${m.peak} (kB), load ${loadavg()[0]?.toFixed(1)}, ${m.startedIso} to ${m.endedIso}\n`,
    );
    if (m.code !== 0) process.stdout.write(m.stderr.slice(0, 2000));
    if (name.startsWith('log')) process.stdout.write(m.stdout.slice(-6000) + m.stderr.slice(-6000));
    if (process.env.PROBE_LOG_DIR) {
      writeFileSync(join(process.env.PROBE_LOG_DIR, `${name}.log`), m.stdout + m.stderr);
    }
  }
} finally {
  await emulator.close();
  await folder.remove();
}
