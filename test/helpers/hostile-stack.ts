import type { ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { TokenInfo } from '../../src/storage/types.js';
import { tokenInfo } from './fixtures.js';
import {
  startHttpTestServer,
  type HttpTestServer,
  type RouteHandler,
  type ScriptedAnswer,
} from './http-test-server.js';

/**
 * A loopback stand-in for one Keboola stack and its S3 file storage, well behaved by default:
 * a read token on `in.c-src`, one table `t` with 2 rows, an export job that succeeds at once, a
 * sliced file with one slice. Each hostile case replaces one route with a bad answer (huge,
 * endless or trickling bodies, garbage, a gzip bomb, a wrong manifest, a far-future Date).
 */
export const HOSTILE_TOKEN = '4242-67319-HostileStackSourceToken0000000000000000xyz';
const TABLE_ID = 'in.c-src.t';
export const SLICE_CSV = '"1","a"\n"2","b"\n';
export const STORAGE = '/v2/storage';
export const MANIFEST_PATH = '/kbc-files/exp-1/t.csv.gzmanifest';
export const SLICE_PATH = '/kbc-files/exp-1/t.csv.gz0000_part_00.gz';
export const S3_SECRET = 'hostile-s3-secret-access-key-000';
const SIGNATURE = 'HostileSignature0123456789abcdef';
const ACCESS_KEY_ID = 'ASIAHOSTILE000000001';

export interface HostileStack {
  readonly url: string;
  readonly server: HttpTestServer;
  /** Replaces one route's answer (method, path without query). */
  route(method: string, path: string, ...answers: (ScriptedAnswer | RouteHandler)[]): void;
  /** The config.json of a platform-mode run of table `t` against this stack. */
  config(table?: Record<string, unknown>, extra?: Record<string, unknown>): unknown;
  /** Environment for the job: the S3 endpoint is this server. */
  readonly env: Record<string, string>;
  /** Every secret this stack handed out, for the secret scan. */
  readonly secrets: readonly string[];
  close(): Promise<void>;
}

export function tableJson(rowsCount = 2): Record<string, unknown> {
  return {
    id: TABLE_ID,
    name: 't',
    primaryKey: [],
    columns: ['id', 'name'],
    rowsCount,
    dataSizeBytes: 1024,
    isTyped: false,
    lastImportDate: null,
    lastChangeDate: null,
    metadata: [],
    columnMetadata: [],
    bucket: { id: 'in.c-src' },
  };
}

export function fileJson(url: string, sizeBytes: number): Record<string, unknown> {
  return {
    id: 7,
    name: 't.csv.gz',
    isSliced: true,
    isEncrypted: true,
    sizeBytes,
    provider: 'aws',
    region: 'us-east-1',
    url: `${url}${MANIFEST_PATH}?X-Amz-Signature=${SIGNATURE}`,
    s3Path: { bucket: 'kbc-files', key: 'exp-1/t.csv.gz' },
    credentials: {
      AccessKeyId: ACCESS_KEY_ID,
      SecretAccessKey: S3_SECRET,
      SessionToken: 'hostile-session-token-0000000000',
      Expiration: '2099-01-01T00:00:00+00:00',
    },
  };
}

export function manifestOf(...slicePaths: string[]): Buffer {
  const entries = slicePaths.map((path) => ({ url: `s3:/${path}`, mandatory: true }));
  return Buffer.from(JSON.stringify({ entries }));
}

export async function startHostileStack(): Promise<HostileStack> {
  const server = await startHttpTestServer();
  const url = server.url;
  const slice = gzipSync(Buffer.from(SLICE_CSV));
  const good: Array<[string, string, ScriptedAnswer]> = [
    [
      'GET',
      `${STORAGE}/tokens/verify`,
      {
        status: 200,
        body: hostileTokenInfo(),
      },
    ],
    ['GET', `${STORAGE}/buckets/in.c-src/tables`, { status: 200, body: [tableJson()] }],
    ['GET', `${STORAGE}/tables/${TABLE_ID}`, { status: 200, body: tableJson() }],
    [
      'POST',
      `${STORAGE}/tables/${TABLE_ID}/export-async`,
      {
        status: 202,
        body: {
          id: 100,
          status: 'success',
          operationName: 'tableExport',
          tableId: TABLE_ID,
          createdTime: new Date().toISOString(),
          startTime: null,
          endTime: null,
          runId: null,
          results: { file: { id: 7 } },
        },
      },
    ],
    ['GET', `${STORAGE}/files/7`, { status: 200, body: fileJson(url, slice.length) }],
    ['GET', MANIFEST_PATH, { status: 200, raw: manifestOf(SLICE_PATH) }],
    ['GET', SLICE_PATH, { status: 200, raw: slice }],
  ];
  for (const [method, path, answer] of good) server.route(method, path, answer);
  return {
    url,
    server,
    route: (method, path, ...answers) => server.route(method, path, ...answers),
    config: (table = {}, extra = {}) => ({
      parameters: { '#token': HOSTILE_TOKEN, url, tables: [{ name: 't', ...table }], ...extra },
    }),
    env: { AWS_ENDPOINT_URL_S3: url, KBC_TABLE_SYNC_RETRY_BASE_MS: '50' },
    secrets: [HOSTILE_TOKEN, S3_SECRET, SIGNATURE, ACCESS_KEY_ID],
    close: () => server.close(),
  };
}

/** An answer whose body this function writes: headers first, then `write(res)`. */
export function streamed(
  headers: Record<string, string>,
  write: (res: ServerResponse) => void,
): ScriptedAnswer {
  return {
    status: 200,
    respond: (res) => {
      res.writeHead(200, headers);
      write(res);
    },
  };
}

/** Writes `chunk` as fast as the client reads, until the client goes away. */
export function endless(chunk: Buffer): (res: ServerResponse) => void {
  return (res) => {
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.once('close', () => res.removeAllListeners('drain'));
    pump();
  };
}

/** Writes one byte of `body` every `everyMs`, never faster, until it is all sent or the client leaves. */
export function trickle(body: Buffer, everyMs: number): (res: ServerResponse) => void {
  return (res) => {
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed || sent >= body.length) {
        clearInterval(timer);
        if (!res.destroyed) res.end();
        return;
      }
      res.write(body.subarray(sent, sent + 1));
      sent += 1;
    }, everyMs);
    res.once('close', () => clearInterval(timer));
  };
}

/** The hostile stack's source token, as tokens/verify answers it: read-only on `in.c-src`. */
export function hostileTokenInfo(): TokenInfo {
  return tokenInfo({
    description: 'hostile source',
    bucketPermissions: { 'in.c-src': 'read' },
    owner: {
      id: 578,
      name: 'Hostile',
      region: 'us-east-1',
      fileStorageProvider: 'aws',
      features: [],
    },
  });
}
