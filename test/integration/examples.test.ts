/**
 * The scale-out examples (docs/scaling.md) are parsed, not just shipped: the Kubernetes CronJob
 * with its Indexed Job, and the Airflow DAG (read with Python's `ast`, no Airflow needed). Their
 * arguments go through the job's own command-line parser.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseCli } from '../../src/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');
const KUBERNETES = join(ROOT, 'examples', 'kubernetes', 'cronjob.yaml');
const AIRFLOW = join(ROOT, 'examples', 'airflow', 'kbc_table_sync_dag.py');
const DAG_STRUCTURE = join(ROOT, 'test', 'helpers', 'python-dag-structure.py');

/** Keboola Storage tokens look like `<project>-<id>-<secret>`; no example may hold one. */
const TOKEN_SHAPED = /\b\d+-\d+-[A-Za-z0-9]{16,}\b/;

function expectNoTokenInPlainText(text: string): void {
  expect(text).not.toMatch(TOKEN_SHAPED);
  expect(text).not.toMatch(/"#token"\s*:/);
  expect(text).not.toMatch(/X-StorageApi-Token/i);
}

interface Container {
  name: string;
  image: string;
  args: string[];
  env: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath?: string } } }>;
  volumeMounts: Array<{ name: string; mountPath: string; subPath?: string; readOnly?: boolean }>;
}

interface CronJob {
  apiVersion: string;
  kind: string;
  spec: {
    concurrencyPolicy: string;
    jobTemplate: {
      spec: {
        completionMode: string;
        completions: number;
        parallelism: number;
        backoffLimitPerIndex?: number;
        podFailurePolicy: {
          rules: Array<{
            action: string;
            onExitCodes?: { containerName?: string; operator: string; values: number[] };
          }>;
        };
        template: {
          spec: {
            restartPolicy: string;
            containers: Container[];
            volumes: Array<{ name: string; secret?: { secretName: string }; emptyDir?: object }>;
          };
        };
      };
    };
  };
}

describe('examples/kubernetes/cronjob.yaml', () => {
  it('is a CronJob running an Indexed Job whose pods each take one shard', async () => {
    const text = await readFile(KUBERNETES, 'utf8');
    const documents = parseAllDocuments(text);
    expect(documents).toHaveLength(1);
    const [document] = documents;
    expect(document?.errors).toEqual([]);
    const cronJob = document?.toJS() as CronJob;
    expect(cronJob.apiVersion).toBe('batch/v1');
    expect(cronJob.kind).toBe('CronJob');
    expect(cronJob.spec.concurrencyPolicy).toBe('Forbid');

    const job = cronJob.spec.jobTemplate.spec;
    expect(job.completionMode).toBe('Indexed');
    expect(job.completions).toBeGreaterThan(1);
    expect(job.parallelism).toBe(job.completions);
    expect(job.template.spec.restartPolicy).toBe('Never');
    expect(job.template.spec.containers).toHaveLength(1);
    const container = job.template.spec.containers[0] as Container;

    // The index variable comes from the completion-index annotation, and the args use it.
    const index = container.env.find(
      (e) =>
        e.valueFrom?.fieldRef?.fieldPath ===
        "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    );
    expect(index).toBeDefined();
    expect(container.args).toEqual(['--shard', `$(${index?.name})/${job.completions}`]);
    // Every pod's arguments, as Kubernetes expands them, are a valid shard of the same count.
    const shards = Array.from({ length: job.completions }, (_, i) =>
      parseCli(container.args.map((arg) => arg.replace(`$(${index?.name})`, String(i)))),
    );
    expect(shards.map((cli) => (cli.command === 'run' ? cli.shard : undefined))).toEqual(
      Array.from({ length: job.completions }, (_, i) => ({ index: i, count: job.completions })),
    );

    // Exit 1 (a user error) fails that index without retries; others may be retried per index.
    expect(job.backoffLimitPerIndex).toBeGreaterThan(0);
    const failIndex = job.podFailurePolicy.rules.find((r) => r.action === 'FailIndex');
    expect(failIndex?.onExitCodes).toEqual({
      containerName: container.name,
      operator: 'In',
      values: [1],
    });

    // The configuration (with the tokens) comes from a Secret, mounted read-only as config.json;
    // the data folder is the pod's own.
    const configMount = container.volumeMounts.find((m) => m.mountPath === '/data/config.json');
    expect(configMount).toMatchObject({ subPath: 'config.json', readOnly: true });
    const configVolume = job.template.spec.volumes.find((v) => v.name === configMount?.name);
    expect(configVolume?.secret?.secretName).toEqual(expect.any(String));
    const dataMount = container.volumeMounts.find((m) => m.mountPath === '/data');
    const dataVolume = job.template.spec.volumes.find((v) => v.name === dataMount?.name);
    expect(dataVolume?.emptyDir).toBeDefined();
    expectNoTokenInPlainText(text);
  });
});

const python = spawnSync('python3', ['--version']).status === 0;

interface DagStructure {
  imports: string[];
  dag: Record<string, unknown>;
  operators: Array<Record<string, unknown>>;
  mapped: Array<{
    class: string;
    partial: Record<string, unknown>;
    expand: Record<string, string>;
  }>;
  functions: Record<string, { decorators: string[]; returns: unknown[] }>;
  strings: string[];
}

describe('examples/airflow/kbc_table_sync_dag.py', () => {
  it.skipIf(!python)(
    'maps one container task per table of the list action, each with --table',
    async () => {
      const dag = JSON.parse(
        execFileSync('python3', [DAG_STRUCTURE, AIRFLOW], { encoding: 'utf8' }),
      ) as DagStructure;
      expect(dag.imports).toContain('airflow.providers.docker.operators.docker.DockerOperator');
      expect(dag.dag).toMatchObject({ max_active_runs: 1 });

      // The list action feeds the mapping through XCom.
      const list = dag.operators.find((o) => o.task_id === 'list_tables');
      expect(list).toMatchObject({
        class: 'DockerOperator',
        command: ['action', 'list'],
        do_xcom_push: true,
      });
      expect(parseCli(list?.command as string[])).toMatchObject({
        command: 'action',
        name: 'list',
      });

      // One mapped container per table: DockerOperator.partial(...).expand(command=f(list)).
      expect(dag.mapped).toHaveLength(1);
      const mapped = dag.mapped[0];
      expect(mapped?.class).toBe('DockerOperator');
      expect(mapped?.partial).not.toHaveProperty('command');
      const expandCommand = mapped?.expand.command ?? '';
      const mapper = /^(\w+)\(list_tables\.output\)$/.exec(expandCommand)?.[1] ?? '';
      expect(dag.functions[mapper]?.decorators).toContain('task');
      expect(dag.functions[mapper]?.returns).toEqual([
        { expression: "[['--table', table['name']] for table in tables]" },
      ]);
      expect(parseCli(['--table', 'orders'])).toMatchObject({ command: 'run', tables: ['orders'] });

      // No token in plain text: only the mounted config.json holds them.
      for (const value of dag.strings) expectNoTokenInPlainText(value);
      expectNoTokenInPlainText(await readFile(AIRFLOW, 'utf8'));
    },
  );
});

describe('docs', () => {
  it('the cron line takes a lock and copies no state; docker.md points at the examples', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const docker = await readFile(join(ROOT, 'docs', 'docker.md'), 'utf8');
    for (const text of [readme, docker]) {
      const cron = text.split('\n').filter((line) => /^\d+ \* \* \* \* /.test(line.trim()));
      expect(cron.length).toBeGreaterThan(0);
      for (const line of cron) {
        expect(line).toContain('flock -n');
        expect(line).not.toContain('state.json');
      }
    }
    expect(docker).toContain('examples/airflow/kbc_table_sync_dag.py');
    expect(docker).toContain('examples/kubernetes/cronjob.yaml');
  });
});
