/**
 * The built job against Storage and an object store that speak HTTPS, as every real stack and
 * cloud does: the emulator serves TLS with the repository's test certificate, which the job
 * trusts through `NODE_EXTRA_CA_CERTS` (a real process: Node reads it at start-up). Over TLS the
 * bodies arrive in records of at most 16 KiB, which the plain-HTTP suites never produce. S3 (both
 * modes), Azure Blob and Google Cloud Storage (platform mode) each go over TLS.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { listFiles, makeDataDir, removeDir, runCliProcess } from '../helpers/run-cli.js';
import {
  destRows,
  expectNoLeaks,
  platformConfig,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const TLS_DIR = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const CERT_PATH = join(TLS_DIR, 'localhost.crt');
/** What both emulators serve: the test certificate and its key. */
const TLS = { cert: readFileSync(CERT_PATH), key: readFileSync(join(TLS_DIR, 'localhost.key')) };

const emulator = useEmulator(standaloneSeed(), { tls: TLS });

const env = () => ({
  NODE_EXTRA_CA_CERTS: CERT_PATH,
  AWS_ENDPOINT_URL_S3: emulator.url,
  STORAGE_EMULATOR_HOST: emulator.url,
  KBC_TABLE_SYNC_POLL_INITIAL_MS: '20',
});

describe('the built job over HTTPS', () => {
  it('the emulator serves HTTPS', () => {
    expect(emulator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('platform mode: exit 0, the sliced table and its manifest', async () => {
    const dataDir = await makeDataDir(platformConfig(emulator.url, [{ name: 'orders' }]));
    try {
      const result = await runCliProcess(['--data', dataDir], { env: env(), timeoutMs: 60_000 });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await listFiles(join(dataDir, 'out', 'tables'))).toContain('orders.csv.manifest');
      await expectNoLeaks(emulator.control, result, dataDir);
    } finally {
      await removeDir(dataDir);
    }
  });

  it('standalone mode: exit 0 and the rows in the destination table (upload over TLS)', async () => {
    const dataDir = await makeDataDir(
      standaloneConfig(emulator.url, [{ name: 'orders', destination: 'orders_tls' }]),
    );
    try {
      const result = await runCliProcess(['--data', dataDir], { env: env(), timeoutMs: 60_000 });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await destRows(emulator.control, 'in.c-copy.orders_tls')).toHaveLength(5);
      await expectNoLeaks(emulator.control, result, dataDir);
    } finally {
      await removeDir(dataDir);
    }
  });

  it('without the certificate trusted: exit 1, one sentence naming the URL, nothing written', async () => {
    const dataDir = await makeDataDir(platformConfig(emulator.url, [{ name: 'orders' }]));
    try {
      const untrusted = { ...env(), NODE_EXTRA_CA_CERTS: undefined };
      const result = await runCliProcess(['--data', dataDir], { env: untrusted });
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(emulator.url);
      expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
    } finally {
      await removeDir(dataDir);
    }
  });
});

const PROVIDERS = [
  { provider: 'azure', projectId: 301 },
  { provider: 'gcp', projectId: 302 },
] as const;
const providerToken = (projectId: number) => `${projectId}-${projectId * 10 + 1}-${'d'.repeat(40)}`;

describe('the built job over HTTPS to Azure Blob and Google Cloud Storage', () => {
  const clouds = useEmulator(
    {
      projects: PROVIDERS.map(({ provider, projectId }) => ({
        id: projectId,
        name: `Sales on ${provider}`,
        fileStorageProvider: provider,
        buckets: [
          {
            id: 'in.c-sales',
            tables: [
              {
                name: 'orders',
                columns: ['id', 'status'],
                primaryKey: ['id'],
                rows: [
                  ['1', 'new'],
                  ['2', 'paid'],
                  ['3', 'sent'],
                ],
                sliceRows: 2,
              },
            ],
          },
        ],
        tokens: [{ token: providerToken(projectId), bucketPermissions: { 'in.c-sales': 'read' } }],
      })),
    },
    { tls: TLS },
  );

  it.each(PROVIDERS)(
    'platform mode on $provider: exit 0 and every slice written',
    async ({ projectId }) => {
      const config = {
        parameters: {
          '#token': providerToken(projectId),
          url: clouds.url,
          tables: [{ name: 'orders' }],
        },
      };
      const dataDir = await makeDataDir(config);
      try {
        const result = await runCliProcess(['--data', dataDir], {
          env: {
            NODE_EXTRA_CA_CERTS: CERT_PATH,
            STORAGE_EMULATOR_HOST: clouds.url,
            KBC_TABLE_SYNC_POLL_INITIAL_MS: '20',
          },
          timeoutMs: 60_000,
        });
        expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
        const slices = await listFiles(join(dataDir, 'out', 'tables', 'orders.csv'));
        expect(slices.filter((name) => name.endsWith('.gz'))).toHaveLength(2);
      } finally {
        await removeDir(dataDir);
      }
    },
  );
});
