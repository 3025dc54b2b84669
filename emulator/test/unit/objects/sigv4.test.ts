import aws4 from 'aws4';
import { describe, expect, it } from 'vitest';
import type { ReceivedRequest } from '../../../src/objects/sigv4.js';
import {
  AWS_V4,
  GOOG_V4,
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  formatRequestTime,
  parseAuthorizationHeader,
  parseRequestTime,
  presignUrl,
  sign,
  stringToSign,
} from '../../../src/objects/sigv4.js';

const credentials = {
  accessKeyId: 'ASIAEXAMPLEEXAMPLE00',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session/token+value==',
};

/** What a server receives for a request that aws4 signed: lower-case headers, raw path and query. */
function receivedFrom(
  path: string,
  method: string,
  body?: string,
): {
  request: ReceivedRequest;
  authorization: string;
} {
  const signed = aws4.sign(
    {
      host: 'objects.test:9000',
      path,
      method,
      service: 's3',
      region: 'eu-central-1',
      ...(body === undefined ? {} : { body }),
    },
    credentials,
  );
  const headers: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(signed.headers ?? {})) {
    headers[name.toLowerCase()] = [String(value)];
  }
  const full = signed.path ?? path;
  const q = full.indexOf('?');
  return {
    request: {
      method,
      rawPath: q < 0 ? full : full.slice(0, q),
      rawQuery: q < 0 ? '' : full.slice(q + 1),
      headers,
    },
    authorization: headers['authorization']![0]!,
  };
}

/** The server-side verification, recomputed from the received request only. */
function verify(request: ReceivedRequest, authorization: string, secret: string): boolean {
  const parsed = parseAuthorizationHeader(AWS_V4, authorization)!;
  const payloadHash = request.headers['x-amz-content-sha256']![0]!;
  const time = request.headers['x-amz-date']![0]!;
  const canonical = canonicalRequest(request, parsed.signedHeaders, payloadHash);
  return (
    sign(AWS_V4, secret, parsed.scope, stringToSign(AWS_V4, time, parsed.scope, canonical)) ===
    parsed.signature
  );
}

describe('SigV4 verification against aws4-signed requests', () => {
  it.each([
    ['a plain key', '/bucket/exp-15/578/table.csv.gz0000_part_00.gz'],
    ['spaces and unicode', `/bucket/${encodeURIComponent('dir with space/žluťoučký.csv')}`],
    ['reserved characters', `/bucket/${encodeURIComponent("a+b=c&d(e)!*'.csv")}`],
    ['a literal plus', '/bucket/a+b.csv'],
    ['an unsorted query', '/bucket/key?versionId=3&acl=&b=2'],
  ])('accepts %s and rejects a wrong secret', (_name, path) => {
    const { request, authorization } = receivedFrom(path, 'GET');
    expect(verify(request, authorization, credentials.secretAccessKey)).toBe(true);
    expect(verify(request, authorization, `${credentials.secretAccessKey}x`)).toBe(false);
  });

  it('covers the declared payload hash of a PUT', () => {
    const { request, authorization } = receivedFrom('/bucket/key', 'PUT', 'body');
    expect(verify(request, authorization, credentials.secretAccessKey)).toBe(true);
    const tampered = {
      ...request,
      headers: { ...request.headers, 'x-amz-content-sha256': ['0'.repeat(64)] },
    };
    expect(verify(tampered, authorization, credentials.secretAccessKey)).toBe(false);
  });

  it('parses the Authorization header', () => {
    const { authorization } = receivedFrom('/bucket/key', 'GET');
    const parsed = parseAuthorizationHeader(AWS_V4, authorization);
    expect(parsed?.scope).toMatchObject({
      accessKeyId: credentials.accessKeyId,
      region: 'eu-central-1',
      service: 's3',
      terminator: 'aws4_request',
    });
    expect(parsed?.signedHeaders).toContain('host');
    expect(parseAuthorizationHeader(AWS_V4, 'Bearer abc')).toBeUndefined();
    expect(parseAuthorizationHeader(AWS_V4, 'AWS4-HMAC-SHA256 Credential=a/b')).toBeUndefined();
  });
});

describe('canonical forms', () => {
  it('re-encodes path segments strictly, keeping slashes', () => {
    expect(canonicalUri('/b/a%20b/c%2Bd/%28x%29')).toBe('/b/a%20b/c%2Bd/%28x%29');
    expect(canonicalUri('/b/c+d/e%2Ff')).toBe('/b/c%20d/e/f');
    expect(canonicalUri('/b/(x)')).toBe('/b/%28x%29');
  });

  it('sorts and encodes the query, dropping the signature', () => {
    expect(canonicalQuery('b=2&a=1&X-Amz-Signature=abc&c=x y', 'X-Amz-Signature')).toBe(
      'a=1&b=2&c=x%20y',
    );
  });

  it('round-trips request times', () => {
    const ms = Date.UTC(2024, 1, 14, 9, 46, 25);
    expect(formatRequestTime(ms)).toBe('20240214T094625Z');
    expect(parseRequestTime('20240214T094625Z')).toBe(ms);
    expect(parseRequestTime('2024-02-14')).toBeUndefined();
  });
});

describe('presignUrl', () => {
  it.each([
    ['AWS', AWS_V4, 'X-Amz-'],
    ['GCS', GOOG_V4, 'X-Goog-'],
  ] as const)('builds a %s URL whose signature recomputes from the URL alone', (_n, flavor, p) => {
    const url = presignUrl({
      flavor,
      method: 'GET',
      origin: 'http://127.0.0.1:4000',
      rawPath: '/bucket/a%20b/manifest',
      accessKeyId: 'KEY',
      secret: 'SECRET',
      region: 'auto',
      service: 's3',
      nowMs: Date.UTC(2024, 0, 1),
      expiresSeconds: 3600,
    });
    const parsed = new URL(url);
    const params = parsed.searchParams;
    expect(params.get(`${p}Expires`)).toBe('3600');
    const rawQuery = url.slice(url.indexOf('?') + 1);
    const request: ReceivedRequest = {
      method: 'GET',
      rawPath: parsed.pathname,
      rawQuery,
      headers: { host: ['127.0.0.1:4000'] },
    };
    const scope = {
      accessKeyId: 'KEY',
      date: '20240101',
      region: 'auto',
      service: 's3',
      terminator: flavor.terminator,
    };
    const canonical = canonicalRequest(request, ['host'], 'UNSIGNED-PAYLOAD', `${p}Signature`);
    const expected = sign(
      flavor,
      'SECRET',
      scope,
      stringToSign(flavor, params.get(`${p}Date`)!, scope, canonical),
    );
    expect(params.get(`${p}Signature`)).toBe(expected);
  });

  it('agrees with aws4 query signing', () => {
    const nowMs = Date.UTC(2024, 0, 1, 12);
    const ours = presignUrl({
      flavor: AWS_V4,
      method: 'GET',
      origin: 'http://h:1',
      rawPath: '/bucket/key.csv',
      accessKeyId: credentials.accessKeyId,
      secret: credentials.secretAccessKey,
      sessionToken: credentials.sessionToken,
      region: 'us-east-1',
      service: 's3',
      nowMs,
      expiresSeconds: 600,
    });
    const query = new URL(ours).searchParams;
    const theirs = aws4.sign(
      {
        host: 'h:1',
        path: `/bucket/key.csv?X-Amz-Expires=600&X-Amz-Date=${formatRequestTime(nowMs)}`,
        service: 's3',
        region: 'us-east-1',
        signQuery: true,
      },
      credentials,
    );
    const theirQuery = new URLSearchParams(theirs.path!.split('?')[1]);
    expect(query.get('X-Amz-Signature')).toBe(theirQuery.get('X-Amz-Signature'));
  });
});
