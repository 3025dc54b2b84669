import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialsExpiredError } from '../../src/objects/errors.js';
import { openSliceSink } from '../../src/objects/slice-sink.js';
import { openSliceSource } from '../../src/objects/slice-source.js';
import { SecretMasker } from '../../src/secrets.js';
import type { FileDetail, PreparedFile } from '../../src/storage/types.js';

/** The documented development account of the Azure storage emulators. */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const CONTAINER = 'exp-15-files-4516-27364641-2024-11-09';
const SAS_VERSION = '2018-11-09';

function sign(stringToSign: string): string {
  return createHmac('sha256', Buffer.from(ACCOUNT_KEY, 'base64'))
    .update(stringToSign, 'utf8')
    .digest('base64');
}

/** `2024-01-01T00:00:00Z`: SAS times have no milliseconds. */
function sasTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Account SAS (string-to-sign of versions 2015-04-05 … 2020-12-06): account, permissions, services,
 * resource types, start, expiry, IP, protocol, version, each followed by a newline.
 */
function accountSas(expiryMs: number): string {
  const fields = { sp: 'rwdlac', ss: 'b', srt: 'sco', se: sasTime(expiryMs), sv: SAS_VERSION };
  const toSign = [
    ACCOUNT,
    fields.sp,
    fields.ss,
    fields.srt,
    '',
    fields.se,
    '',
    '',
    fields.sv,
    '',
  ].join('\n');
  return new URLSearchParams({ ...fields, sig: sign(toSign) }).toString();
}

/**
 * Container service SAS (string-to-sign of versions 2018-11-09 … 2020-12-06): permissions, start,
 * expiry, canonical resource `/blob/{account}/{container}`, identifier, IP, protocol, version,
 * resource (`c`), snapshot time, then the five response-header overrides.
 */
function containerSas(permissions: string, expiryMs: number): string {
  const fields = { sv: SAS_VERSION, sr: 'c', sp: permissions, se: sasTime(expiryMs) };
  const resource = `/blob/${ACCOUNT}/${CONTAINER}`;
  const toSign = [
    fields.sp,
    '',
    fields.se,
    resource,
    '',
    '',
    '',
    fields.sv,
    fields.sr,
    '',
    '',
    '',
    '',
    '',
    '',
  ].join('\n');
  return new URLSearchParams({ ...fields, sig: sign(toSign) }).toString();
}

async function startAzurite(location: string): Promise<{ child: ChildProcess; port: number }> {
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const child = spawn(
    process.execPath,
    [
      main,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--loose',
      '--disableTelemetry',
    ],
    { cwd: location, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`Azurite did not start: ${output}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with ${code}: ${output}`));
    });
  });
  return { child, port };
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('Azure Blob slice transfer against Azurite', () => {
  let location: string;
  let azurite: ChildProcess;
  let blobEndpoint: string;
  const masker = new SecretMasker();
  const errors: unknown[] = [];
  const hourMs = 3_600_000;
  const uploadSas = () => containerSas('rwl', Date.now() + hourMs);
  const readSas = () => containerSas('rl', Date.now() + hourMs);

  beforeAll(async () => {
    location = await mkdtemp(join(tmpdir(), 'kts-azurite-'));
    const started = await startAzurite(location);
    azurite = started.child;
    blobEndpoint = `http://127.0.0.1:${started.port}/${ACCOUNT}`;
    const response = await fetch(
      `${blobEndpoint}/${CONTAINER}?restype=container&${accountSas(Date.now() + hourMs)}`,
      { method: 'PUT', headers: { 'x-ms-version': SAS_VERSION } },
    );
    expect(response.status).toBe(201);
  });
  afterAll(async () => {
    if (azurite && azurite.exitCode === null) {
      const exited = new Promise((resolve) => azurite.once('exit', resolve));
      azurite.kill('SIGTERM');
      await exited;
    }
    await rm(location, { recursive: true, force: true });
    for (const error of errors) {
      for (const text of [String(error), JSON.stringify(error), (error as Error).stack ?? '']) {
        expect(text).not.toMatch(/sig=/);
      }
    }
  });

  const blobName = 'table-exports/in/c-crm/customers/236504176.csv.gz';

  function prepared(sas: string): PreparedFile {
    return {
      id: 236504176,
      name: 'customers.csv.gz',
      provider: 'azure',
      region: 'north-europe',
      isSliced: true,
      absUploadParams: {
        blobName,
        accountName: ACCOUNT,
        container: CONTAINER,
        absCredentials: {
          SASConnectionString: `BlobEndpoint=${blobEndpoint};SharedAccessSignature=${sas}`,
          expiration: '2099-01-01T00:00:00+0100',
        },
      },
    };
  }

  function fileDetail(sas: string): FileDetail {
    return {
      id: 236504176,
      name: 'customers.csv.gz',
      isSliced: true,
      isEncrypted: true,
      sizeBytes: 0,
      provider: 'azure',
      region: 'north-europe',
      url: `${blobEndpoint}/${CONTAINER}/${blobName}manifest?${sas}`,
      absPath: { container: CONTAINER, name: blobName },
      absCredentials: {
        SASConnectionString: `BlobEndpoint=${blobEndpoint};SharedAccessSignature=${sas}`,
        expiration: '2099-01-01T00:00:00+0100',
      },
    };
  }

  const data = [0, 1, 2].map((i) => gzipSync(Buffer.from(`"${i}","row ${i}"\n`)));
  const names = ['0000_part_00.gz', '0001_part_00.gz', '0002_part_00.gz'];

  it('round-trips three gzip slices and the manifest byte-identical, in manifest order', async () => {
    const sas = uploadSas();
    const sink = openSliceSink(prepared(sas), {
      refreshFile: () => Promise.reject(new Error('no refresh on ABS')),
      endpoints: {},
      masker,
    });
    for (const [i, name] of names.entries()) {
      await sink.put(name, Readable.from([data[i]!]), data[i]!.length);
    }
    await sink.finish(names);
    expect(masker.mask(sas)).toBe('[hidden]');

    const read = readSas();
    const source = await openSliceSource(fileDetail(read), {
      refetchFile: () => Promise.resolve(fileDetail(readSas())),
      endpoints: {},
      masker,
    });
    expect(source.slices.map((s) => s.name)).toEqual(names);
    expect(source.slices[2]!.url).toBe(
      `azure://${ACCOUNT}.blob.core.windows.net/${CONTAINER}/${blobName}${names[2]}`,
    );
    for (const [i, slice] of source.slices.entries()) {
      const stream = await source.open(slice);
      expect(stream.contentLength).toBe(data[i]!.length);
      expect((await readAll(stream.body)).equals(data[i]!)).toBe(true);
    }
  });

  it('round-trips slices whose names are opaque suffixes of the blob name', async () => {
    // Suffixes as different backends and uploaders make them; none is parsed, only appended.
    const opaque = ['.part-00000.gz', '_0_1_0.csv.gz', '/nested/0002 slice+x(1).gz', '-žluť'];
    const bodies = opaque.map((_, i) => gzipSync(Buffer.from(`"${i}","opaque ${i}"\n`)));
    const opaqueBlob = 'files/2024/11/09/851784.opaque.csv.gz';
    const upload = prepared(uploadSas());
    const sink = openSliceSink(
      { ...upload, absUploadParams: { ...upload.absUploadParams!, blobName: opaqueBlob } },
      { refreshFile: () => Promise.reject(new Error('x')), endpoints: {}, masker },
    );
    for (const [i, name] of opaque.entries()) {
      await sink.put(name, Readable.from([bodies[i]!]), bodies[i]!.length);
    }
    await sink.finish(opaque);
    const read = readSas();
    const file: FileDetail = {
      ...fileDetail(read),
      url: `${blobEndpoint}/${CONTAINER}/${opaqueBlob}manifest?${read}`,
      absPath: { container: CONTAINER, name: opaqueBlob },
    };
    const source = await openSliceSource(file, {
      refetchFile: () => Promise.resolve(file),
      endpoints: {},
      masker,
    });
    expect(source.slices.map((s) => s.name)).toEqual(opaque);
    expect(source.slices.map((s) => s.url)).toEqual(
      opaque.map(
        (name) => `azure://${ACCOUNT}.blob.core.windows.net/${CONTAINER}/${opaqueBlob}${name}`,
      ),
    );
    for (const [i, slice] of source.slices.entries()) {
      const stream = await source.open(slice);
      expect((await readAll(stream.body)).equals(bodies[i]!)).toBe(true);
    }
  });

  it('refetches the file once when its SAS has expired', async () => {
    const expired = containerSas('rl', Date.now() - hourMs);
    let refetches = 0;
    // The manifest URL is still fresh; the slice SAS in the connection string has expired.
    const stale = { ...fileDetail(expired), url: fileDetail(readSas()).url };
    const source = await openSliceSource(stale, {
      refetchFile: () => {
        refetches += 1;
        return Promise.resolve(fileDetail(readSas()));
      },
      endpoints: {},
      masker,
    });
    const stream = await source.open(source.slices[1]!);
    expect((await readAll(stream.body)).equals(data[1]!)).toBe(true);
    expect(refetches).toBe(1);
    expect(masker.mask(expired)).toBe('[hidden]');
  });

  it('refuses an upload through a read-only SAS as a non-retryable error without the signature', async () => {
    const sink = openSliceSink(prepared(readSas()), {
      refreshFile: () => Promise.reject(new Error('x')),
      endpoints: {},
      masker,
    });
    const error = await sink
      .put('9999_part_00.gz', Readable.from([data[0]!]), data[0]!.length)
      .catch((e: unknown) => e);
    errors.push(error);
    expect(error).not.toBeInstanceOf(CredentialsExpiredError);
    expect((error as Error).message).toMatch(
      new RegExp(`^PUT azure ${CONTAINER}/${blobName}9999_part_00.gz answered 403`),
    );
    expect((error as { retryable: boolean }).retryable).toBe(false);
  });
});
