import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable, Transform, Writable } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EmulatorClock } from '../clock.js';
import type { FaultKind, FaultRegistry, FaultSpec } from '../faults.js';
import type { AccessAttempt, AuthResult } from './auth.js';
import { authorizeAzure, authorizeGcs, authorizeS3 } from './auth.js';
import {
  absCredentials,
  azureObjectHeaders,
  azureUploadHeaderError,
  azureUploadHeaders,
  sasFields,
  sasQuery,
  type AzureAccount,
} from './azure.js';
import type { CredentialMode, IssuedCredential, Provider } from './credentials.js';
import { CredentialRegistry } from './credentials.js';
import {
  ByteCounter,
  FlipBytes,
  GZIP_TRAILER_BYTES,
  MISMATCH_EXTRA_BYTES,
  corruptSpan,
} from './fault-streams.js';
import { GcsApi, gcsObjectHeaders, gcsResource, gcsUploadHeaders, sendJson } from './gcs.js';
import type { PendingObject, StoredObject } from './object-files.js';
import { ObjectFiles } from './object-files.js';
import { contentRange, parseByteRange, rangeHeaderOf } from './ranges.js';
import type { ObjectError } from './responses.js';
import { objectError, requestIdHeaders, sendError } from './responses.js';
import type { ObjectRoute, RouteApi } from './routes.js';
import { parseObjectRoute } from './routes.js';
import { S3Api, awsCredentials, s3ObjectHeaders, s3UploadHeaders } from './s3.js';
import { multipartOperation } from './s3-multipart.js';
import type { ReceivedRequest } from './sigv4.js';
import { AWS_V4, GOOG_V4, encodeRfc3986, presignUrl } from './sigv4.js';
import type { StoreContext } from './store-context.js';
import type { ThrottleAccounting } from './throttle.js';
import { Throttle, emptyThrottleAccounting } from './throttle.js';

export type { Provider } from './credentials.js';

/** bucket = S3 bucket / Azure container / GCS bucket; key = object key / blob name. */
export interface ObjectLocation {
  readonly bucket: string;
  readonly key: string;
}

export interface ObjectStoreOptions {
  /** Objects are files under here (streamed, never buffered whole). */
  readonly rootDir: string;
  /** Credential expiry uses emulator time. */
  readonly clock: EmulatorClock;
  /** Object-path faults: reset, truncateGzip, corruptGzip, contentLengthMismatch, status, latency, expireCredentials. */
  readonly faults: FaultRegistry;
  /** Delay before the first byte of each object GET/PUT answer; default 0. */
  readonly firstByteLatencyMs?: number;
  /** Bandwidth cap of each object download and upload (token bucket per request); default unlimited. */
  readonly bytesPerSecondPerConnection?: number;
}

/** Request counters by provider. */
export interface ProviderCounters {
  gets: number;
  puts: number;
  rejected: number;
}

export interface ObjectStoreStats {
  /** Object GET/HEAD answers with the object (faulted ones included). */
  readonly gets: number;
  /** Completed uploads. */
  readonly puts: number;
  /** Object body bytes sent. */
  readonly bytesOut: number;
  /** Upload body bytes received (complete or not). */
  readonly bytesIn: number;
  /** Requests refused by the credential checks. */
  readonly rejected: number;
  readonly byProvider: Readonly<Record<Provider, Readonly<ProviderCounters>>>;
  /** The throttle's own accounting (all throttled requests together). */
  readonly throttle: Readonly<ThrottleAccounting>;
  /**
   * Object GETs in the order things happened (the last {@link REQUEST_LOG_LIMIT}): `start` when
   * the request arrived (before any latency), `end` when its body was completely sent. Tests use
   * it to observe concurrency and completion order without timing anything.
   */
  readonly log: readonly ObjectRequestEvent[];
}

export interface ObjectRequestEvent {
  readonly event: 'start' | 'end';
  readonly method: string;
  /** Request path without the query (no signature). */
  readonly path: string;
}

/** How many request events {@link ObjectStoreStats.log} keeps. */
const REQUEST_LOG_LIMIT = 10_000;

/** Region, Azure account and GCP project the emulated stores report. */
const EMULATED_AWS_REGION = 'us-east-1';
export const EMULATED_AZURE_ACCOUNT = 'kbcemulator';
const EMULATED_GCP_PROJECT = 'kbc-emulator';

const PRE_FAULTS = ['expireCredentials', 'latency', 'status'] as const;
const DOWNLOAD_FAULTS: FaultKind['kind'][] = [
  'reset',
  'truncateGzip',
  'corruptGzip',
  'contentLengthMismatch',
];

/**
 * S3, Azure Blob and GCS object stores in one emulator, under the emulator's HTTP server (layout in
 * `docs/objects.md`). Every object access is streamed; credentials are issued per file and
 * checked the way each cloud checks them.
 */
export class EmulatedObjectStore {
  /** Azure storage account of every BlobEndpoint (`azure://{account}.blob.core.windows.net/…`). */
  readonly azureAccountName = EMULATED_AZURE_ACCOUNT;
  readonly awsRegion = EMULATED_AWS_REGION;
  readonly gcpProjectId = EMULATED_GCP_PROJECT;

  readonly #files: ObjectFiles;
  /** What the per-provider APIs use of this store. */
  readonly #context: StoreContext;
  readonly #s3: S3Api;
  readonly #gcs: GcsApi;
  readonly #credentials = new CredentialRegistry();
  readonly #clock: EmulatorClock;
  readonly #faults: FaultRegistry;
  readonly #firstByteLatencyMs: number;
  readonly #bytesPerSecond: number | undefined;
  readonly #azureAccount: AzureAccount = {
    name: EMULATED_AZURE_ACCOUNT,
    key: randomBytes(32),
  };
  readonly #throttle = emptyThrottleAccounting();
  readonly #counters: Record<Provider, ProviderCounters> = {
    aws: { gets: 0, puts: 0, rejected: 0 },
    azure: { gets: 0, puts: 0, rejected: 0 },
    gcp: { gets: 0, puts: 0, rejected: 0 },
  };
  /** Every secret value handed to clients (credential secrets, tokens, SAS sigs, signed queries). */
  readonly #issuedSecrets = new Set<string>();
  #bytesOut = 0;
  #bytesIn = 0;
  #log: ObjectRequestEvent[] = [];
  #baseUrl = 'http://127.0.0.1';

  constructor(options: ObjectStoreOptions) {
    this.#files = new ObjectFiles(options.rootDir);
    this.#context = {
      files: this.#files,
      baseUrl: () => this.#baseUrl,
      nowMs: () => this.#clock.nowMs(),
      receiveBody: async (req) => {
        try {
          return await this.#files.receive(req, [new ByteCounter((n) => (this.#bytesIn += n))]);
        } catch {
          req.socket.destroy();
          return undefined;
        }
      },
      countPut: (provider) => (this.#counters[provider].puts += 1),
      addIssuedSecret: (secret) => this.#issuedSecrets.add(secret),
    };
    this.#s3 = new S3Api(this.#context, (req, received, auth) =>
      bodyDigestError('s3', req, received, auth),
    );
    this.#gcs = new GcsApi(this.#context);
    this.#clock = options.clock;
    this.#faults = options.faults;
    this.#firstByteLatencyMs = options.firstByteLatencyMs ?? 0;
    const rate = options.bytesPerSecondPerConnection;
    this.#bytesPerSecond = rate !== undefined && rate > 0 ? rate : undefined;
  }

  /** Called once the server listens: `http://127.0.0.1:PORT`. Signed URLs and endpoints use it. */
  setBaseUrl(url: string): void {
    this.#baseUrl = url.replace(/\/+$/, '');
  }

  /** Streams a body into an object (emulator-internal writes). Resolves to the bytes written. */
  async putObject(
    loc: ObjectLocation,
    body: NodeJS.ReadableStream | Buffer | string,
  ): Promise<number> {
    const source = typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([body]) : body;
    const pending = await this.#files.receive(source);
    const stored = await this.#files.commit(pending, loc.bucket, loc.key, {
      sse: true,
      contentType: 'application/octet-stream',
      nowMs: this.#clock.nowMs(),
    });
    return stored.sizeBytes;
  }

  /** Absolute path of the object's file, or undefined when missing. */
  objectPath(loc: ObjectLocation): string | undefined {
    return this.#files.get(loc.bucket, loc.key)?.path;
  }

  /** Keys under a prefix, sorted. */
  listKeys(bucket: string, prefix: string): string[] {
    return this.#files.keys(bucket, prefix);
  }

  /**
   * Provider fields of a file detail: read-only credentials for keys under `loc.key`, valid
   * `ttlSeconds` of emulator time, and the signed `url` of `urlKey`, valid `urlTtlSeconds`
   * (default: `ttlSeconds`). Only `{ url }` when `withCredentials` is false.
   */
  readFields(
    provider: Provider,
    loc: ObjectLocation,
    urlKey: string,
    ttlSeconds: number,
    withCredentials: boolean,
    urlTtlSeconds = ttlSeconds,
  ): Record<string, unknown> {
    const url = this.#signedUrl(provider, { bucket: loc.bucket, key: urlKey }, urlTtlSeconds);
    if (!withCredentials) return { url };
    const credential = this.#issue(provider, loc, 'read', ttlSeconds, false, false);
    if (provider === 'aws') {
      return {
        url,
        s3Path: { bucket: loc.bucket, key: loc.key },
        credentials: awsCredentials(credential),
      };
    }
    if (provider === 'azure') {
      return {
        url,
        absPath: { container: loc.bucket, name: loc.key },
        absCredentials: this.#absCredentials(credential),
      };
    }
    return {
      url,
      gcsPath: { bucket: loc.bucket, key: loc.key },
      gcsCredentials: {
        access_token: credential.id,
        expires_in: ttlSeconds,
        token_type: 'Bearer',
        projectId: this.gcpProjectId,
      },
    };
  }

  /**
   * Upload fields for `files/prepare`: write credentials for keys under `loc.key` (only that exact
   * key when `options.exactKey`, as for a non-sliced file), valid `ttlSeconds`. S3 uploads of an
   * encrypted file (`options.encrypted`, the default) must send
   * `x-amz-server-side-encryption: AES256`; Azure and GCS always encrypt.
   */
  uploadFields(
    provider: Provider,
    loc: ObjectLocation,
    ttlSeconds: number,
    options: { readonly exactKey?: boolean; readonly encrypted?: boolean } = {},
  ): Record<string, unknown> {
    const exactKey = options.exactKey ?? false;
    const sse = provider === 'aws' && (options.encrypted ?? true);
    const credential = this.#issue(provider, loc, 'write', ttlSeconds, sse, exactKey);
    if (provider === 'aws') {
      return {
        uploadParams: {
          key: loc.key,
          bucket: loc.bucket,
          acl: 'private',
          ...(sse ? { 'x-amz-server-side-encryption': 'AES256' } : {}),
          credentials: awsCredentials(credential),
        },
      };
    }
    if (provider === 'azure') {
      return {
        absUploadParams: {
          blobName: loc.key,
          accountName: this.azureAccountName,
          container: loc.bucket,
          absCredentials: this.#absCredentials(credential),
        },
      };
    }
    return {
      gcsUploadParams: {
        projectId: this.gcpProjectId,
        bucket: loc.bucket,
        key: loc.key,
        access_token: credential.id,
        expires_in: ttlSeconds,
        token_type: 'Bearer',
      },
    };
  }

  /** Test control: every credential (and signed URL) issued so far expires now. */
  expireAllCredentials(): void {
    this.#credentials.expireAll(this.#clock.nowMs());
  }

  /**
   * Test control (read-only): every secret string issued so far: AWS access key ids, secret keys
   * and session tokens, Azure SAS query strings and signatures, GCS bearer tokens, and the query
   * of every signed URL with its signature and security-token values.
   */
  issuedSecrets(): string[] {
    return [...this.#issuedSecrets];
  }

  /** Request counters for tests and the benchmark. */
  stats(): ObjectStoreStats {
    const sum = (field: keyof ProviderCounters): number =>
      this.#counters.aws[field] + this.#counters.azure[field] + this.#counters.gcp[field];
    return {
      gets: sum('gets'),
      puts: sum('puts'),
      bytesOut: this.#bytesOut,
      bytesIn: this.#bytesIn,
      rejected: sum('rejected'),
      byProvider: {
        aws: { ...this.#counters.aws },
        azure: { ...this.#counters.azure },
        gcp: { ...this.#counters.gcp },
      },
      throttle: { ...this.#throttle },
      log: [...this.#log],
    };
  }

  #record(event: ObjectRequestEvent): void {
    this.#log.push(event);
    if (this.#log.length > REQUEST_LOG_LIMIT) this.#log = this.#log.slice(-REQUEST_LOG_LIMIT / 2);
  }

  /** HTTP handler for object paths; returns false when the path is not an object path. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
    const route = parseObjectRoute(
      rawPath,
      new URLSearchParams(rawQuery),
      req.headers.authorization,
    );
    if (!route) return false;
    const received: ReceivedRequest = {
      method: req.method ?? 'GET',
      rawPath,
      rawQuery,
      headers: req.headersDistinct,
    };
    this.#serve(req, res, route, received).catch(() => {
      if (res.headersSent) res.destroy();
      else
        sendError(res, apiOf(route), objectError(500, 'InternalError', 'Internal error.'), false);
    });
    return true;
  }

  // ------------------------------------------------------------ issuing

  #issue(
    provider: Provider,
    loc: ObjectLocation,
    mode: CredentialMode,
    ttlSeconds: number,
    requireSse: boolean,
    exactKey: boolean,
    purpose: 'federation' | 'signedUrl' = 'federation',
  ): IssuedCredential {
    const credential = this.#credentials.issue(
      { provider, bucket: loc.bucket, keyPrefix: loc.key, exactKey, mode, requireSse, purpose },
      this.#clock.nowMs(),
      ttlSeconds,
    );
    for (const secret of [credential.id, credential.secret, credential.sessionToken]) {
      if (secret !== '') this.#issuedSecrets.add(secret);
    }
    if (provider === 'azure') {
      const sig = sasFields(this.#azureAccount, credential).sig;
      this.#issuedSecrets.add(sig);
      this.#credentials.alias(`sas:${sig}`, credential);
    }
    return credential;
  }

  #absCredentials(credential: IssuedCredential): Record<string, string> {
    const sas = sasQuery(this.#azureAccount, credential);
    this.#issuedSecrets.add(sas);
    return absCredentials(this.#baseUrl, this.#azureAccount, sas, credential.expiresAtMs);
  }

  #signedUrl(provider: Provider, loc: ObjectLocation, ttlSeconds: number): string {
    const url = this.#unrecordedSignedUrl(provider, loc, ttlSeconds);
    const query = url.slice(url.indexOf('?') + 1);
    this.#issuedSecrets.add(query);
    for (const [name, value] of new URLSearchParams(query)) {
      if (/signature|token|^sig$/i.test(name)) this.#issuedSecrets.add(value);
    }
    return url;
  }

  #unrecordedSignedUrl(provider: Provider, loc: ObjectLocation, ttlSeconds: number): string {
    const credential = this.#issue(provider, loc, 'read', ttlSeconds, false, true, 'signedUrl');
    const keyPath = loc.key.split('/').map(encodeRfc3986).join('/');
    if (provider === 'azure') {
      return `${this.#baseUrl}/azure/${this.azureAccountName}/${encodeRfc3986(loc.bucket)}/${keyPath}?${sasQuery(this.#azureAccount, credential)}`;
    }
    const aws = provider === 'aws';
    const signed = presignUrl({
      flavor: aws ? AWS_V4 : GOOG_V4,
      method: 'GET',
      origin: this.#baseUrl,
      rawPath: `/${encodeRfc3986(loc.bucket)}/${keyPath}`,
      accessKeyId: credential.id,
      secret: credential.secret,
      ...(aws ? { sessionToken: credential.sessionToken } : {}),
      region: aws ? this.awsRegion : 'auto',
      service: aws ? 's3' : 'storage',
      nowMs: credential.issuedAtMs,
      expiresSeconds: Math.max(1, Math.min(604_800, ttlSeconds)),
    });
    const query = signed.slice(signed.indexOf('?') + 1);
    this.#issuedSecrets.add(query);
    const signature = /Signature=([^&]+)/.exec(query)?.[1];
    if (signature) this.#issuedSecrets.add(signature);
    return signed;
  }

  // ------------------------------------------------------------ serving

  async #serve(
    req: IncomingMessage,
    res: ServerResponse,
    route: ObjectRoute,
    received: ReceivedRequest,
  ): Promise<void> {
    const api = apiOf(route);
    const method = received.method.toUpperCase();
    const headOnly = method === 'HEAD';
    if (method === 'GET') this.#record({ event: 'start', method, path: received.rawPath });
    if (route.api === 'invalid') {
      sendError(res, api, objectError(400, 'InvalidURI', route.reason), headOnly);
      return;
    }
    const query = new URLSearchParams(received.rawQuery);
    const write = isWrite(route.api, method, query);
    if (write === undefined) {
      sendError(res, api, methodNotAllowed(route.api), headOnly);
      return;
    }
    if (await this.#preFaults(res, api, method, received.rawPath, headOnly)) return;
    if (route.api === 'gcs-upload' && route.uploadId !== undefined) {
      // A resumable session's URI is its own capability (as on GCS): no token needed.
      await this.#gcs.resumableChunk(req, res, route.uploadId);
      return;
    }
    if (route.api === 'azure' && query.has('comp')) {
      // Put Block / Put Block List / Get Block List…: the SDKs use them above 256 MiB.
      sendError(res, api, notEmulated(`Azure comp=${query.get('comp') ?? ''}`), headOnly);
      return;
    }
    if (route.api === 'gcs-upload' && !['media', 'resumable'].includes(route.uploadType)) {
      sendError(res, api, notEmulated(`GCS uploadType=${route.uploadType}`), false);
      return;
    }
    if (route.key === '') {
      this.#counters[providerOf(api)].rejected += 1;
      sendError(res, api, bucketLevelError(api), headOnly);
      return;
    }
    const attempt: AccessAttempt = {
      request: received,
      bucket: route.bucket,
      key: route.key,
      write,
      nowMs: this.#clock.nowMs(),
    };
    const auth = this.#authorize(route, attempt);
    if (!auth.ok) {
      this.#counters[providerOf(api)].rejected += 1;
      sendError(res, api, auth.error, headOnly);
      return;
    }
    const multipart = route.api === 's3' ? multipartOperation(method, query) : undefined;
    if (route.api === 's3' && multipart) await this.#s3.multipart(req, res, route, multipart, auth);
    else if (route.api === 'gcs-upload' && route.uploadType === 'resumable') {
      await this.#gcs.openResumable(req, res, route);
    } else if (write) await this.#receive(req, res, route, auth);
    else await this.#send(res, route, method, received);
  }

  /** Applies `expireCredentials`, `latency` and `status` faults; true when the request was answered. */
  async #preFaults(
    res: ServerResponse,
    api: RouteApi,
    method: string,
    path: string,
    headOnly: boolean,
  ): Promise<boolean> {
    for (const kind of PRE_FAULTS) {
      const fault = this.#faults.take(method, path, [kind]);
      if (fault?.kind === 'expireCredentials') this.expireAllCredentials();
      if (fault?.kind === 'latency') await sleep(fault.ms);
      if (fault?.kind === 'status') {
        sendStatusFault(res, api, fault, headOnly);
        return true;
      }
    }
    return false;
  }

  #authorize(route: Exclude<ObjectRoute, { api: 'invalid' }>, attempt: AccessAttempt): AuthResult {
    switch (route.api) {
      case 's3':
        return authorizeS3(attempt, this.#credentials);
      case 'azure':
        return authorizeAzure(
          { ...attempt, account: route.account },
          this.#credentials,
          this.azureAccountName,
          this.#azureAccount.key,
        );
      default:
        return authorizeGcs(attempt, this.#credentials, route.api);
    }
  }

  // ------------------------------------------------------------ downloads

  async #send(
    res: ServerResponse,
    route: Exclude<ObjectRoute, { api: 'invalid' }>,
    method: string,
    received: ReceivedRequest,
  ): Promise<void> {
    const api = route.api;
    const path = received.rawPath;
    const headOnly = method === 'HEAD';
    const object = this.#files.get(route.bucket, route.key);
    if (!object) {
      sendError(res, api, notFound(api, route.bucket, route.key), headOnly);
      return;
    }
    this.#counters[providerOf(api)].gets += 1;
    if (route.api === 'gcs-json' && !route.media) {
      sendJson(res, 200, gcsResource(this.#baseUrl, object), headOnly);
      return;
    }
    const range = headOnly
      ? ({ kind: 'full' } as const)
      : parseByteRange(rangeHeaderOf(api, received.headers), object.sizeBytes);
    if (range.kind === 'unsatisfiable') {
      sendError(res, api, rangeNotSatisfiable(api), false, {
        'Content-Range': contentRange(range, object.sizeBytes) ?? '',
      });
      return;
    }
    const firstByte = range.kind === 'partial' ? range.start : 0;
    const bodyBytes = range.kind === 'partial' ? range.end - range.start + 1 : object.sizeBytes;
    // Data faults act on a body, so a HEAD does not use them up; on a range, on its bytes.
    const fault = headOnly ? undefined : this.#faults.take(method, path, DOWNLOAD_FAULTS);
    const plan = downloadPlan(bodyBytes, fault);
    const headers: OutgoingHttpHeaders = {
      ...objectHeaders(api, object, range.kind === 'partial'),
      ...requestIdHeaders(api),
      'Content-Length': plan.declaredBytes,
      ...(range.kind === 'partial'
        ? { 'Content-Range': contentRange(range, object.sizeBytes) }
        : {}),
      ...(plan.closeAfter ? { Connection: 'close' } : {}),
    };
    if (this.#firstByteLatencyMs > 0) await sleep(this.#firstByteLatencyMs);
    res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
    if (headOnly) {
      res.end();
      return;
    }
    const source =
      plan.sendBytes > 0
        ? createReadStream(object.path, {
            start: firstByte,
            end: firstByte + plan.sendBytes - 1,
          })
        : Readable.from([]);
    const stages: NodeJS.ReadWriteStream[] = [];
    if (plan.flip) stages.push(new FlipBytes(plan.flip.start, plan.flip.end));
    if (this.#bytesPerSecond !== undefined) {
      stages.push(new Throttle(this.#bytesPerSecond, this.#throttle));
    }
    stages.push(new ByteCounter((n) => (this.#bytesOut += n)));
    // `end` once the last byte is handed on: before the client can have seen it (no race with
    // the client's next request, which an event after the socket flush would have).
    stages.push(
      new Transform({
        transform: (chunk: Buffer, _encoding, done: TransformCallback) => done(null, chunk),
        flush: (done: TransformCallback) => {
          this.#record({ event: 'end', method, path });
          done();
        },
      }),
    );
    const sink = plan.resetAfterBytes === undefined ? res : new ResetAfterWrite(res);
    try {
      await pipeline([source, ...stages, sink]);
    } catch {
      // The client went away or the fault cut the connection: nothing more to send.
      res.destroy();
    }
  }

  // ------------------------------------------------------------ uploads

  async #receive(
    req: IncomingMessage,
    res: ServerResponse,
    route: Exclude<ObjectRoute, { api: 'invalid' }>,
    auth: Extract<AuthResult, { ok: true }>,
  ): Promise<void> {
    const api = route.api;
    const headerError = uploadHeaderError(api, req);
    if (headerError) {
      sendError(res, api, headerError, false);
      return;
    }
    const stages: NodeJS.ReadWriteStream[] = [new ByteCounter((n) => (this.#bytesIn += n))];
    const reset = this.#faults.take(req.method ?? 'PUT', req.url?.split('?')[0] ?? '', ['reset']);
    if (reset?.kind === 'reset') stages.push(new ResetAfterBytes(reset.afterBytes, req));
    if (this.#bytesPerSecond !== undefined) {
      stages.push(new Throttle(this.#bytesPerSecond, this.#throttle));
    }
    let pending: PendingObject;
    try {
      pending = await this.#files.receive(req, stages);
    } catch {
      req.socket.destroy();
      return;
    }
    const digestError = bodyDigestError(api, req, pending, auth);
    if (digestError) {
      await this.#files.discard(pending);
      sendError(res, api, digestError, false);
      return;
    }
    const object = await this.#files.commit(pending, route.bucket, route.key, {
      sse: api === 's3' ? req.headers['x-amz-server-side-encryption'] === 'AES256' : true,
      contentType: req.headers['content-type'] ?? 'application/octet-stream',
      nowMs: this.#clock.nowMs(),
    });
    this.#counters[providerOf(api)].puts += 1;
    if (this.#firstByteLatencyMs > 0) await sleep(this.#firstByteLatencyMs);
    if (api === 'gcs-upload') {
      sendJson(res, 200, gcsResource(this.#baseUrl, object), false);
      return;
    }
    const headers = {
      ...uploadHeaders(api, object),
      ...requestIdHeaders(api),
      'Content-Length': 0,
    };
    res.writeHead(api === 'azure' ? 201 : 200, headers);
    res.end();
  }
}

// -------------------------------------------------------------- helpers (pure)

type ValidApi = Exclude<RouteApi, 'invalid'>;

function apiOf(route: ObjectRoute): RouteApi {
  if (route.api !== 'invalid') return route.api;
  return route.provider === 'aws' ? 's3' : route.provider === 'azure' ? 'azure' : 'gcs-json';
}

function providerOf(api: RouteApi): Provider {
  return api === 's3' ? 'aws' : api === 'azure' ? 'azure' : 'gcp';
}

/** Whether the method writes (true), reads (false) or is not served (undefined) on this API. */
function isWrite(api: ValidApi, method: string, query: URLSearchParams): boolean | undefined {
  if (api === 'gcs-json') return method === 'GET' ? false : undefined;
  if (api === 'gcs-upload') {
    return method === 'POST' || (method === 'PUT' && query.has('upload_id')) ? true : undefined;
  }
  if (method === 'GET' || method === 'HEAD') return false;
  if (method === 'PUT') return true;
  if (api === 's3' && multipartOperation(method, query)) return true;
  return undefined;
}

/** 501 naming what a real object store does and the emulator does not. */
function notEmulated(what: string): ObjectError {
  return objectError(501, 'NotImplemented', `${what} is not emulated by keboola-storage-emulator.`);
}

/** Headers of an object GET/HEAD, per API. */
function objectHeaders(api: ValidApi, object: StoredObject, partial = false): OutgoingHttpHeaders {
  if (api === 's3') return s3ObjectHeaders(object);
  if (api === 'azure') return azureObjectHeaders(object, partial);
  return gcsObjectHeaders(object);
}

/** Headers of an upload's answer, per API. */
function uploadHeaders(api: ValidApi, object: StoredObject): OutgoingHttpHeaders {
  if (api === 's3') return s3UploadHeaders(object);
  if (api === 'azure') return azureUploadHeaders(object);
  return gcsUploadHeaders(object);
}

/** Request headers an upload must carry before its body is read (Azure only). */
function uploadHeaderError(api: ValidApi, req: IncomingMessage): ObjectError | undefined {
  return api === 'azure' ? azureUploadHeaderError(req) : undefined;
}

function methodNotAllowed(api: ValidApi): ObjectError {
  if (api === 'azure') {
    return objectError(
      405,
      'UnsupportedHttpVerb',
      "The resource doesn't support specified Http Verb.",
    );
  }
  return objectError(
    405,
    'MethodNotAllowed',
    'The specified method is not allowed against this resource.',
  );
}

function bucketLevelError(api: RouteApi): ObjectError {
  if (api === 'azure') {
    return objectError(
      403,
      'AuthenticationFailed',
      'Server failed to authenticate the request. Container-level operations are not allowed.',
    );
  }
  return objectError(403, 'AccessDenied', 'Access Denied');
}

function notFound(api: RouteApi, bucket: string, key: string): ObjectError {
  if (api === 'azure')
    return objectError(404, 'BlobNotFound', 'The specified blob does not exist.');
  if (api === 'gcs-json') return objectError(404, 'notFound', `No such object: ${bucket}/${key}`);
  return objectError(404, 'NoSuchKey', 'The specified key does not exist.');
}

function sendStatusFault(
  res: ServerResponse,
  api: RouteApi,
  fault: Extract<FaultSpec, { kind: 'status' }>,
  headOnly: boolean,
): void {
  const extra: Record<string, string> =
    fault.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(fault.retryAfterSeconds) };
  if (fault.body !== undefined) {
    const body = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
    res.writeHead(fault.status, {
      'Content-Type': typeof fault.body === 'string' ? 'text/plain' : 'application/json',
      'Content-Length': Buffer.byteLength(body),
      ...extra,
    });
    res.end(headOnly ? undefined : body);
    return;
  }
  const code =
    fault.status === 503
      ? 'ServiceUnavailable'
      : fault.status === 429
        ? 'SlowDown'
        : 'InternalError';
  sendError(res, api, objectError(fault.status, code, 'Injected fault.'), headOnly, extra);
}

/** 416 in the addressed API's words. */
function rangeNotSatisfiable(api: ValidApi): ObjectError {
  if (api === 's3') {
    return objectError(416, 'InvalidRange', 'The requested range is not satisfiable');
  }
  if (api === 'azure') {
    return objectError(
      416,
      'InvalidRange',
      'The range specified is invalid for the current size of the resource.',
    );
  }
  return objectError(416, 'InvalidRange', 'Request range not satisfiable');
}

/** Checks the received body against the signed payload hash and a Content-MD5 header. */
function bodyDigestError(
  api: ValidApi,
  req: IncomingMessage,
  pending: PendingObject,
  auth: Extract<AuthResult, { ok: true }>,
): ObjectError | undefined {
  if (auth.payloadSha256Hex !== undefined && auth.payloadSha256Hex !== pending.sha256Hex) {
    return objectError(
      400,
      'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  }
  const md5 = req.headers['content-md5'];
  if (md5 !== undefined && md5 !== Buffer.from(pending.md5Hex, 'hex').toString('base64')) {
    return api === 'azure'
      ? objectError(
          400,
          'Md5Mismatch',
          'The MD5 value specified in the request did not match with the MD5 value calculated by the server.',
        )
      : objectError(
          400,
          'BadDigest',
          'The Content-MD5 you specified did not match what we received.',
        );
  }
  return undefined;
}

/** What a GET sends under a data fault (or none). */
export interface DownloadPlan {
  /** Bytes read from the file (a prefix of it). */
  readonly sendBytes: number;
  /** Content-Length header value. */
  readonly declaredBytes: number;
  readonly flip?: { start: number; end: number };
  /** Destroy the socket after these body bytes. */
  readonly resetAfterBytes?: number;
  /** Close the connection after the response (the declared length is a lie). */
  readonly closeAfter: boolean;
}

export function downloadPlan(sizeBytes: number, fault: FaultSpec | undefined): DownloadPlan {
  switch (fault?.kind) {
    case 'truncateGzip': {
      const sendBytes = Math.max(0, sizeBytes - GZIP_TRAILER_BYTES);
      return { sendBytes, declaredBytes: sendBytes, closeAfter: false };
    }
    case 'corruptGzip':
      return {
        sendBytes: sizeBytes,
        declaredBytes: sizeBytes,
        flip: corruptSpan(sizeBytes),
        closeAfter: false,
      };
    case 'contentLengthMismatch':
      return {
        sendBytes: sizeBytes,
        declaredBytes: sizeBytes + MISMATCH_EXTRA_BYTES,
        closeAfter: true,
      };
    case 'reset': {
      const sendBytes = Math.max(0, Math.min(sizeBytes, fault.afterBytes));
      return { sendBytes, declaredBytes: sizeBytes, resetAfterBytes: sendBytes, closeAfter: true };
    }
    default:
      return { sendBytes: sizeBytes, declaredBytes: sizeBytes, closeAfter: false };
  }
}

/**
 * Sink for the `reset` fault: writes what it gets to the response, then, once the last write
 * reached the socket, destroys the socket instead of ending the response.
 */
class ResetAfterWrite extends Writable {
  constructor(private readonly res: ServerResponse) {
    super();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    done: (error?: Error | null) => void,
  ): void {
    this.res.write(chunk, () => done());
  }

  override _final(done: (error?: Error | null) => void): void {
    const socket = this.res.socket;
    if (!socket) {
      done();
      return;
    }
    // Headers (and any body) are queued on the socket before this empty write; its callback
    // runs once they were handed to the OS.
    this.res.flushHeaders();
    socket.write(Buffer.alloc(0), () => {
      socket.destroy();
      done();
    });
  }
}

/** Upload side of the `reset` fault: the connection dies once `afterBytes` of the body arrived. */
class ResetAfterBytes extends Transform {
  #seen = 0;

  constructor(
    private readonly afterBytes: number,
    private readonly req: IncomingMessage,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen >= this.afterBytes) {
      this.req.socket.destroy();
      done(new Error('connection reset by fault'));
      return;
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.req.socket.destroy();
    done(new Error('connection reset by fault'));
  }
}
