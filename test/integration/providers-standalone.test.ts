/**
 * Standalone mode across clouds (issue 4): source {aws, azure, gcp} × destination
 * {aws, azure, gcp}. Each pair streams the source slices (S3 SigV4 / Azure SAS / GCS Bearer) into
 * a sliced upload in the destination project (S3 PUT with ACL and SSE / Azure BlockBlob PUT / GCS
 * media upload, manifest last), and the destination rows equal the source rows.
 */
import { describe, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { removeDir } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import {
  COLUMNS,
  DESTINATION_BUCKET,
  PROVIDERS,
  SLICE_ROWS,
  SOURCE_BUCKET,
  expectExitCode,
  destinationProjectId,
  destinationToken,
  providersSeed,
  rowsOf,
  runJob,
  sourceProjectId,
  sourceToken,
  standaloneConfig,
  type Provider,
} from './providers-fixture.js';

const emulator = useEmulator(providersSeed());

const PAIRS: Array<[Provider, Provider]> = PROVIDERS.flatMap((from) =>
  PROVIDERS.map((to): [Provider, Provider] => [from, to]),
);

/** How each provider names an uploaded slice in a manifest (docs/storage-api-notes.md, Writing a file into the destination). */
function expectedEntryPrefix(file: FileAnswer): string {
  if (file.provider === 'aws') return `s3://${file.s3Path?.bucket}/${file.s3Path?.key}`;
  if (file.provider === 'gcp') return `gs://${file.gcsPath?.bucket}/${file.gcsPath?.key}`;
  return `azure://kbcemulator.blob.core.windows.net/${file.absPath?.container}/${file.absPath?.name}`;
}

interface FileAnswer {
  readonly provider: Provider;
  readonly url: string;
  readonly isSliced: boolean;
  readonly s3Path?: { bucket: string; key: string };
  readonly gcsPath?: { bucket: string; key: string };
  readonly absPath?: { container: string; name: string };
}

async function storage(token: string, path: string): Promise<unknown> {
  const response = await fetch(`${emulator.url}/v2/storage/${path}`, {
    headers: { 'X-StorageApi-Token': token },
  });
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}`);
  return response.json();
}

/** The manifest of the file the job imported into `tableId`, read as a Storage client would. */
async function importedManifest(
  to: Provider,
  tableId: string,
): Promise<{ file: FileAnswer; entries: Array<{ url: string; mandatory?: boolean }> }> {
  const token = destinationToken(to);
  const jobs = (await storage(token, 'jobs?limit=100')) as Array<{
    operationName: string;
    tableId: string | null;
    status: string;
    operationParams: { source?: { fileId?: number } };
  }>;
  const job = jobs.find(
    (j) => j.operationName === 'tableImport' && j.tableId === tableId && j.status === 'success',
  );
  const fileId = job?.operationParams.source?.fileId;
  if (fileId === undefined) throw new Error(`No successful import job into ${tableId}`);
  const file = (await storage(token, `files/${fileId}?federationToken=1`)) as FileAnswer;
  const manifest = await fetch(file.url);
  if (manifest.status !== 200) throw new Error(`The manifest URL answered ${manifest.status}`);
  return { file, entries: ((await manifest.json()) as { entries: [] }).entries };
}

describe('standalone mode, every source provider into every destination provider', () => {
  it.concurrent.for(PAIRS)('%s → %s', async ([from, to], { expect }) => {
    const table = `from_${from}`;
    const run = await runJob(
      emulator.url,
      standaloneConfig(emulator.url, from, to, [
        { name: 'items', destination: table, primaryKey: ['id'] },
      ]),
    );
    try {
      expectExitCode(run, 0);
      const source = await emulator.control.tableRows(
        sourceProjectId(from),
        `${SOURCE_BUCKET}.items`,
      );
      const copied = await emulator.control.tableRows(
        destinationProjectId(to),
        `${DESTINATION_BUCKET}.${table}`,
      );
      expect(source.length).toBeGreaterThan(SLICE_ROWS);
      expect(rowsOf(copied, COLUMNS)).toEqual(rowsOf(source, COLUMNS));

      // The uploaded file: sliced, on the destination's provider, entries in its URL scheme,
      // every slice under the file's key prefix, as many slices as the export had.
      const { file, entries } = await importedManifest(to, `${DESTINATION_BUCKET}.${table}`);
      expect(file.provider).toBe(to);
      expect(file.isSliced).toBe(true);
      expect(entries).toHaveLength(Math.ceil(source.length / SLICE_ROWS));
      const prefix = expectedEntryPrefix(file);
      for (const entry of entries) {
        expect(entry.url.slice(0, prefix.length)).toBe(prefix);
        expect(entry.url.length).toBeGreaterThan(prefix.length);
        expect(entry.mandatory).toBe(true);
      }

      await expectNoSecrets(
        [...emulator.control.issuedSecrets(), sourceToken(from), destinationToken(to)],
        run.result,
        run.dataDir,
      );
    } finally {
      await removeDir(run.dataDir);
    }
  });
});
