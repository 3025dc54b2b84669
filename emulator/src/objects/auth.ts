import { createHmac } from 'node:crypto';
import type { CredentialRegistry, IssuedCredential } from './credentials.js';
import { isExpired, scopeDenial } from './credentials.js';
import type { ObjectError } from './responses.js';
import { objectError } from './responses.js';
import type { ReceivedRequest, SigningFlavor } from './sigv4.js';
import {
  AWS_V4,
  GOOG_V4,
  UNSIGNED_PAYLOAD,
  canonicalRequest,
  parseAuthorizationHeader,
  parseCredentialScope,
  parseRequestTime,
  safeEqual,
  sign,
  stringToSign,
} from './sigv4.js';

/**
 * Credential checks, the way each cloud does them (pure: the request as received, the registry
 * and the emulator time in, a grant or a provider-shaped error out).
 */
export interface AccessAttempt {
  readonly request: ReceivedRequest;
  readonly bucket: string;
  readonly key: string;
  /** PUT/POST (needs a write credential). */
  readonly write: boolean;
  /** Emulator time. */
  readonly nowMs: number;
}

export type AuthResult =
  | {
      readonly ok: true;
      readonly credential: IssuedCredential;
      /** SigV4 header auth with a signed payload: the SHA-256 hex the body must have. */
      readonly payloadSha256Hex?: string;
    }
  | { readonly ok: false; readonly error: ObjectError };

const deny = (status: number, code: string, message: string): AuthResult => ({
  ok: false,
  error: objectError(status, code, message),
});

function header(request: ReceivedRequest, name: string): string | undefined {
  return request.headers[name]?.[0];
}

// ---------------------------------------------------------------- S3

const S3_ACCESS_DENIED = 'Access Denied';

/** S3: SigV4 `Authorization` header, or presigned query auth (`X-Amz-Signature`). */
export function authorizeS3(attempt: AccessAttempt, registry: CredentialRegistry): AuthResult {
  const { request } = attempt;
  const authorization = header(request, 'authorization');
  const query = new URLSearchParams(request.rawQuery);
  if (authorization === undefined && query.has('X-Amz-Signature')) {
    return authorizePresigned(attempt, registry, AWS_V4, s3Errors);
  }
  if (authorization === undefined) return deny(403, 'AccessDenied', S3_ACCESS_DENIED);
  const parsed = parseAuthorizationHeader(AWS_V4, authorization);
  if (!parsed || parsed.scope.service !== 's3' || parsed.scope.terminator !== 'aws4_request') {
    return deny(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
  }
  const credential = registry.get(parsed.scope.accessKeyId);
  if (!credential || credential.provider !== 'aws') {
    return deny(
      403,
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
    );
  }
  if (isExpired(credential, attempt.nowMs)) {
    return deny(400, 'ExpiredToken', 'The provided token has expired.');
  }
  const token = header(request, 'x-amz-security-token');
  if (token === undefined) {
    return deny(
      403,
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
    );
  }
  if (!safeEqual(token, credential.sessionToken)) {
    return deny(400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
  }
  const requestTime = header(request, 'x-amz-date');
  if (requestTime === undefined || parseRequestTime(requestTime) === undefined) {
    return deny(
      403,
      'AccessDenied',
      'AWS authentication requires a valid Date or x-amz-date header',
    );
  }
  if (parsed.scope.date !== requestTime.slice(0, 8)) {
    return deny(
      400,
      'AuthorizationHeaderMalformed',
      'Invalid credential date. Date is not the same as X-Amz-Date.',
    );
  }
  const payloadHash = header(request, 'x-amz-content-sha256');
  if (payloadHash === undefined) {
    return deny(
      400,
      'InvalidRequest',
      'Missing required header for this request: x-amz-content-sha256',
    );
  }
  if (payloadHash.startsWith('STREAMING-')) {
    return deny(501, 'NotImplemented', 'Chunked (streaming) payload signing is not supported.');
  }
  if (payloadHash !== UNSIGNED_PAYLOAD && !/^[0-9a-f]{64}$/.test(payloadHash)) {
    return deny(
      400,
      'InvalidArgument',
      'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256.',
    );
  }
  const signed = new Set(parsed.signedHeaders);
  if (!signed.has('host')) {
    return deny(400, 'AuthorizationHeaderMalformed', 'The host header must be signed.');
  }
  const unsigned = Object.keys(request.headers).find(
    (name) => name.startsWith('x-amz-') && !signed.has(name),
  );
  if (unsigned !== undefined) {
    return deny(
      403,
      'AccessDenied',
      'There were headers present in the request which were not signed',
    );
  }
  const canonical = canonicalRequest(request, parsed.signedHeaders, payloadHash);
  const expected = sign(
    AWS_V4,
    credential.secret,
    parsed.scope,
    stringToSign(AWS_V4, requestTime, parsed.scope, canonical),
  );
  if (!safeEqual(expected, parsed.signature.toLowerCase())) {
    return deny(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  }
  const scoped = checkScope(attempt, credential, s3Errors);
  if (scoped) return scoped;
  // Encryption is asked for once per object: on its PUT or on CreateMultipartUpload, not on the
  // parts and the completion of a multipart upload (which carry `uploadId`).
  const multipartFollowUp = new URLSearchParams(request.rawQuery).has('uploadId');
  if (attempt.write && credential.requireSse && !multipartFollowUp) {
    if (header(request, 'x-amz-server-side-encryption') !== 'AES256') {
      return deny(403, 'AccessDenied', S3_ACCESS_DENIED);
    }
  }
  return payloadHash === UNSIGNED_PAYLOAD
    ? { ok: true, credential }
    : { ok: true, credential, payloadSha256Hex: payloadHash };
}

interface ErrorStyle {
  readonly malformed: (message: string) => AuthResult;
  readonly unknownKey: () => AuthResult;
  readonly expiredCredential: () => AuthResult;
  readonly expiredUrl: () => AuthResult;
  readonly badSignature: () => AuthResult;
  readonly denied: (write: boolean) => AuthResult;
}

const s3Errors: ErrorStyle = {
  malformed: (message) => deny(400, 'AuthorizationQueryParametersError', message),
  unknownKey: () =>
    deny(
      403,
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
    ),
  expiredCredential: () => deny(400, 'ExpiredToken', 'The provided token has expired.'),
  expiredUrl: () => deny(403, 'AccessDenied', 'Request has expired'),
  badSignature: () =>
    deny(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    ),
  denied: () => deny(403, 'AccessDenied', S3_ACCESS_DENIED),
};

const gcsXmlErrors: ErrorStyle = {
  malformed: (message) => deny(400, 'AuthorizationQueryParametersError', message),
  unknownKey: () => deny(403, 'InvalidAccessKeyId', 'The access key id does not exist.'),
  expiredCredential: () => deny(400, 'ExpiredToken', 'Invalid argument.'),
  expiredUrl: () => deny(400, 'ExpiredToken', 'Invalid argument.'),
  badSignature: () =>
    deny(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
    ),
  denied: (write) =>
    deny(
      403,
      'AccessDenied',
      `Access denied. The caller does not have storage.objects.${write ? 'create' : 'get'} access.`,
    ),
};

/**
 * Presigned (query) auth of either flavor: `X-…-Algorithm, -Credential, -Date, -Expires,
 * -SignedHeaders, -Signature` (+ `-Security-Token` for AWS session credentials).
 */
function authorizePresigned(
  attempt: AccessAttempt,
  registry: CredentialRegistry,
  flavor: SigningFlavor,
  errors: ErrorStyle,
): AuthResult {
  const query = new URLSearchParams(attempt.request.rawQuery);
  const p = flavor.queryPrefix;
  const algorithm = query.get(`${p}Algorithm`);
  const scope = parseCredentialScope(query.get(`${p}Credential`) ?? '');
  const requestTime = query.get(`${p}Date`) ?? '';
  const requestMs = parseRequestTime(requestTime);
  const expiresSeconds = Number(query.get(`${p}Expires`) ?? 'NaN');
  const signedHeaders = query.get(`${p}SignedHeaders`)?.split(';');
  const signature = query.get(`${p}Signature`) ?? '';
  if (
    algorithm !== flavor.algorithm ||
    !scope ||
    requestMs === undefined ||
    !Number.isInteger(expiresSeconds) ||
    expiresSeconds < 1 ||
    expiresSeconds > 604_800 ||
    !signedHeaders?.includes('host')
  ) {
    return errors.malformed('Query-string authentication requires valid X-Amz/X-Goog parameters.');
  }
  const credential = registry.get(scope.accessKeyId);
  const provider = flavor === AWS_V4 ? 'aws' : 'gcp';
  if (!credential || credential.provider !== provider) return errors.unknownKey();
  if (attempt.nowMs > requestMs + expiresSeconds * 1000) return errors.expiredUrl();
  if (isExpired(credential, attempt.nowMs)) return errors.expiredCredential();
  if (provider === 'aws' && query.get(`${p}Security-Token`) !== credential.sessionToken) {
    return deny(400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
  }
  const canonical = canonicalRequest(
    attempt.request,
    signedHeaders,
    UNSIGNED_PAYLOAD,
    `${p}Signature`,
  );
  const expected = sign(
    flavor,
    credential.secret,
    scope,
    stringToSign(flavor, requestTime, scope, canonical),
  );
  if (!safeEqual(expected, signature.toLowerCase())) return errors.badSignature();
  return checkScope(attempt, credential, errors) ?? { ok: true, credential };
}

function checkScope(
  attempt: AccessAttempt,
  credential: IssuedCredential,
  errors: ErrorStyle,
): AuthResult | undefined {
  const denial = scopeDenial(credential, attempt.bucket, attempt.key, attempt.write);
  return denial ? errors.denied(attempt.write) : undefined;
}

// ---------------------------------------------------------------- Azure

/** SAS fields the emulator issues and checks (container SAS, `sr=c`). */
export interface SasFields {
  readonly sv: string;
  readonly sr: string;
  readonly st: string;
  readonly se: string;
  readonly sp: string;
}

export const AZURE_SAS_VERSION = '2017-11-09';

/**
 * The SAS signature: HMAC-SHA256 (base64) with the account key over the signed fields, the
 * canonical resource and the credential's nonce, so a SAS edited by hand (wider `sp`, later
 * `se`, another container) no longer matches.
 */
export function azureSignature(
  accountKey: Buffer,
  nonce: string,
  account: string,
  container: string,
  fields: SasFields,
): string {
  const text = [
    fields.sp,
    fields.st,
    fields.se,
    `/blob/${account}/${container}`,
    nonce,
    fields.sv,
    fields.sr,
  ].join('\n');
  return createHmac('sha256', accountKey).update(text, 'utf8').digest('base64');
}

const azureAuthFailed = (): AuthResult =>
  deny(
    403,
    'AuthenticationFailed',
    'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
  );

/**
 * Azure Blob: the SAS query (`sv, sr, st, se, sp, sig`). `sig` must be one the store issued
 * (looked up after URL-decoding), recompute identically from the received fields, `se` must not
 * have passed, `sp` must hold `r` (GET/HEAD) or `w` (PUT), and the blob must lie in the SAS's
 * container (and key prefix).
 */
export function authorizeAzure(
  attempt: AccessAttempt & { readonly account: string },
  registry: CredentialRegistry,
  expectedAccount: string,
  accountKey: Buffer,
): AuthResult {
  const query = new URLSearchParams(attempt.request.rawQuery);
  const sig = query.get('sig');
  const fields: SasFields = {
    sv: query.get('sv') ?? '',
    sr: query.get('sr') ?? '',
    st: query.get('st') ?? '',
    se: query.get('se') ?? '',
    sp: query.get('sp') ?? '',
  };
  if (!sig || attempt.account !== expectedAccount) return azureAuthFailed();
  const credential = registry.get(`sas:${sig}`);
  if (!credential || credential.provider !== 'azure') return azureAuthFailed();
  const expected = azureSignature(
    accountKey,
    credential.secret,
    attempt.account,
    attempt.bucket,
    fields,
  );
  if (!safeEqual(expected, sig) || fields.sr !== 'c') return azureAuthFailed();
  const expiryMs = Date.parse(fields.se);
  if (Number.isNaN(expiryMs) || attempt.nowMs >= expiryMs || isExpired(credential, attempt.nowMs)) {
    return azureAuthFailed();
  }
  if (!fields.sp.includes(attempt.write ? 'w' : 'r')) return azureAuthFailed();
  if (scopeDenial(credential, attempt.bucket, attempt.key, attempt.write)) {
    return azureAuthFailed();
  }
  return { ok: true, credential };
}

// ---------------------------------------------------------------- GCS

/**
 * GCS: `Authorization: Bearer <access_token>` issued by the store, unexpired, bucket and prefix
 * allowed (401 for a missing/unknown/expired token, 403 for scope), or for the XML path a GCS
 * signed URL (`X-Goog-Signature`).
 */
export function authorizeGcs(
  attempt: AccessAttempt,
  registry: CredentialRegistry,
  api: 'gcs-json' | 'gcs-upload' | 'gcs-xml',
): AuthResult {
  const query = new URLSearchParams(attempt.request.rawQuery);
  const authorization = header(attempt.request, 'authorization');
  if (api === 'gcs-xml' && authorization === undefined && query.has('X-Goog-Signature')) {
    return authorizePresigned(attempt, registry, GOOG_V4, gcsXmlErrors);
  }
  const permission = `storage.objects.${attempt.write ? 'create' : 'get'}`;
  const unauthenticated = (message: string): AuthResult =>
    deny(401, api === 'gcs-xml' ? 'AuthenticationRequired' : 'required', message);
  if (authorization === undefined) {
    return unauthenticated(
      `Anonymous caller does not have ${permission} access to the Google Cloud Storage object.`,
    );
  }
  const match = /^Bearer (\S+)$/i.exec(authorization);
  const credential = match?.[1] === undefined ? undefined : registry.get(match[1]);
  if (
    !credential ||
    credential.provider !== 'gcp' ||
    credential.purpose !== 'federation' ||
    isExpired(credential, attempt.nowMs)
  ) {
    return unauthenticated('Invalid Credentials');
  }
  if (scopeDenial(credential, attempt.bucket, attempt.key, attempt.write)) {
    return deny(
      403,
      api === 'gcs-xml' ? 'AccessDenied' : 'forbidden',
      `The caller does not have ${permission} access to the Google Cloud Storage object.`,
    );
  }
  return { ok: true, credential };
}
