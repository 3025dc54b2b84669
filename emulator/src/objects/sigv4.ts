import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * AWS Signature Version 4 and its Google twin (GOOG4-HMAC-SHA256, the HMAC variant of V4 signed
 * URLs), as pure functions. The verifier recomputes a signature from the request as received
 * (method, raw path, query, the headers the client listed as signed, the declared payload hash),
 * never from how a particular client library built it.
 */
export interface SigningFlavor {
  /** `AWS4-HMAC-SHA256` / `GOOG4-HMAC-SHA256`. */
  readonly algorithm: string;
  /** Prefix of the secret in the first HMAC of the key derivation: `AWS4` / `GOOG4`. */
  readonly keyPrefix: string;
  /** Last element of the credential scope: `aws4_request` / `goog4_request`. */
  readonly terminator: string;
  /** Prefix of the presigned-URL query parameters: `X-Amz-` / `X-Goog-`. */
  readonly queryPrefix: string;
}

export const AWS_V4: SigningFlavor = {
  algorithm: 'AWS4-HMAC-SHA256',
  keyPrefix: 'AWS4',
  terminator: 'aws4_request',
  queryPrefix: 'X-Amz-',
};

export const GOOG_V4: SigningFlavor = {
  algorithm: 'GOOG4-HMAC-SHA256',
  keyPrefix: 'GOOG4',
  terminator: 'goog4_request',
  queryPrefix: 'X-Goog-',
};

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** The request as received, before any interpretation. */
export interface ReceivedRequest {
  readonly method: string;
  /** Path exactly as on the request line (still percent-encoded), without the query. */
  readonly rawPath: string;
  /** Query string without the `?` (still encoded). */
  readonly rawQuery: string;
  /** Lower-case header name → every value received under that name. */
  readonly headers: Readonly<Record<string, readonly string[] | undefined>>;
}

/** `Credential=AKID/20240214/us-east-1/s3/aws4_request` split into its parts. */
export interface CredentialScope {
  readonly accessKeyId: string;
  /** `YYYYMMDD`. */
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
}

/** Parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
export interface AuthorizationHeader {
  readonly scope: CredentialScope;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** RFC 3986 encoding as SigV4 wants it: everything but `A-Za-z0-9-_.~` is percent-encoded. */
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `decodeURIComponent` that returns undefined for malformed escapes instead of throwing. */
export function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Canonical URI as S3 computes it: each segment decoded once (`+` is a space in S3 paths), then
 * strictly re-encoded; an encoded slash counts as a slash, since it names the same key.
 */
export function canonicalUri(rawPath: string): string {
  return rawPath
    .split('/')
    .map((segment) => encodeRfc3986(decodeS3PathSegment(segment) ?? segment))
    .join('/')
    .replace(/%2F/g, '/');
}

/** S3's reading of a path segment: `+` means a space, then percent-decoding. */
export function decodeS3PathSegment(segment: string): string | undefined {
  return safeDecode(segment.replace(/\+/g, ' '));
}

/** Query pairs decoded the way form/URL parsers do (`+` is a space). */
function queryPairs(rawQuery: string): [string, string][] {
  return [...new URLSearchParams(rawQuery)];
}

/** Canonical query string: pairs re-encoded, sorted by name then value; `exclude` dropped. */
export function canonicalQuery(rawQuery: string, exclude?: string): string {
  return queryPairs(rawQuery)
    .filter(([name]) => name !== exclude)
    .map(([name, value]) => [encodeRfc3986(name), encodeRfc3986(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** Canonical headers block for the signed header names (lower case, in the given order). */
function canonicalHeaders(
  headers: ReceivedRequest['headers'],
  signedHeaders: readonly string[],
): string {
  return signedHeaders
    .map((name) => {
      const values = (headers[name] ?? []).map((v) => v.trim().replace(/\s+/g, ' '));
      return `${name}:${values.join(',')}\n`;
    })
    .join('');
}

export function canonicalRequest(
  request: ReceivedRequest,
  signedHeaders: readonly string[],
  payloadHash: string,
  excludeQuery?: string,
): string {
  return [
    request.method.toUpperCase(),
    canonicalUri(request.rawPath),
    canonicalQuery(request.rawQuery, excludeQuery),
    canonicalHeaders(request.headers, signedHeaders),
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

function scopeString(scope: Omit<CredentialScope, 'accessKeyId'>): string {
  return `${scope.date}/${scope.region}/${scope.service}/${scope.terminator}`;
}

export function stringToSign(
  flavor: SigningFlavor,
  requestTime: string,
  scope: CredentialScope,
  canonical: string,
): string {
  return [flavor.algorithm, requestTime, scopeString(scope), sha256Hex(canonical)].join('\n');
}

/** Derives the signing key and signs `text`; hex result. */
export function sign(
  flavor: SigningFlavor,
  secret: string,
  scope: CredentialScope,
  text: string,
): string {
  let key: Buffer = hmac(`${flavor.keyPrefix}${secret}`, scope.date);
  for (const part of [scope.region, scope.service, scope.terminator]) key = hmac(key, part);
  return hmac(key, text).toString('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** Constant-time comparison of two hex/base64 strings. */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** `Credential=` value → scope, or undefined when it does not have five parts. */
export function parseCredentialScope(text: string): CredentialScope | undefined {
  const parts = text.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) return undefined;
  const [accessKeyId, date, region, service, terminator] = parts as [
    string,
    string,
    string,
    string,
    string,
  ];
  return { accessKeyId, date, region, service, terminator };
}

/** Parses a SigV4 `Authorization` header of the given flavor; undefined when malformed. */
export function parseAuthorizationHeader(
  flavor: SigningFlavor,
  header: string,
): AuthorizationHeader | undefined {
  const prefix = `${flavor.algorithm} `;
  if (!header.startsWith(prefix)) return undefined;
  const fields = new Map<string, string>();
  for (const part of header.slice(prefix.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const scope = parseCredentialScope(fields.get('Credential') ?? '');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!scope || !signedHeaders || !signature) return undefined;
  return { scope, signedHeaders: signedHeaders.split(';'), signature };
}

/** `YYYYMMDDTHHMMSSZ` for a time in ms. */
export function formatRequestTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** Inverse of {@link formatRequestTime}; undefined when malformed. */
export function parseRequestTime(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, ...number[]];
  return Date.UTC(y!, mo! - 1, d, h, mi, s);
}

export interface PresignInput {
  readonly flavor: SigningFlavor;
  readonly method: string;
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly origin: string;
  /** Encoded path, starting with `/`. */
  readonly rawPath: string;
  readonly accessKeyId: string;
  readonly secret: string;
  readonly sessionToken?: string;
  readonly region: string;
  readonly service: string;
  readonly nowMs: number;
  readonly expiresSeconds: number;
}

/** Builds a presigned URL (query auth, `host` the only signed header, unsigned payload). */
export function presignUrl(input: PresignInput): string {
  const { flavor } = input;
  const requestTime = formatRequestTime(input.nowMs);
  const scope: CredentialScope = {
    accessKeyId: input.accessKeyId,
    date: requestTime.slice(0, 8),
    region: input.region,
    service: input.service,
    terminator: flavor.terminator,
  };
  const p = flavor.queryPrefix;
  const params = new URLSearchParams();
  params.set(`${p}Algorithm`, flavor.algorithm);
  params.set(`${p}Credential`, `${input.accessKeyId}/${scopeString(scope)}`);
  params.set(`${p}Date`, requestTime);
  params.set(`${p}Expires`, String(input.expiresSeconds));
  if (input.sessionToken !== undefined) params.set(`${p}Security-Token`, input.sessionToken);
  params.set(`${p}SignedHeaders`, 'host');
  const rawQuery = [...params].map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`).join('&');
  const host = new URL(input.origin).host;
  const canonical = canonicalRequest(
    { method: input.method, rawPath: input.rawPath, rawQuery, headers: { host: [host] } },
    ['host'],
    UNSIGNED_PAYLOAD,
  );
  const signature = sign(
    flavor,
    input.secret,
    scope,
    stringToSign(flavor, requestTime, scope, canonical),
  );
  return `${input.origin}${input.rawPath}?${rawQuery}&${p}Signature=${signature}`;
}
