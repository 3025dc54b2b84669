/**
 * The Azure Blob API's own parts: headers, the upload's required headers, and the SAS of the
 * federation credentials (fields, query, connection string). Routing, SAS verification and
 * downloads are shared (object-store.ts, auth.ts).
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { AZURE_SAS_VERSION, azureSignature, type SasFields } from './auth.js';
import type { IssuedCredential } from './credentials.js';
import type { StoredObject } from './object-files.js';
import { objectError, type ObjectError } from './responses.js';
import { commonObjectHeaders, etagOf } from './store-context.js';

/** Headers of a blob GET/HEAD; a ranged answer names the whole blob's MD5 differently. */
export function azureObjectHeaders(object: StoredObject, partial: boolean): OutgoingHttpHeaders {
  const md5Base64 = Buffer.from(object.md5Hex, 'hex').toString('base64');
  return {
    ...commonObjectHeaders(object),
    ...(partial ? { 'x-ms-blob-content-md5': md5Base64 } : { 'Content-MD5': md5Base64 }),
    'x-ms-blob-type': 'BlockBlob',
    'x-ms-server-encrypted': 'true',
  };
}

export function azureUploadHeaders(object: StoredObject): OutgoingHttpHeaders {
  return {
    ETag: etagOf(object),
    'Last-Modified': new Date(object.lastModifiedMs).toUTCString(),
    'Content-MD5': Buffer.from(object.md5Hex, 'hex').toString('base64'),
    'x-ms-request-server-encrypted': 'true',
  };
}

/** Put Blob needs `x-ms-blob-type: BlockBlob` before its body is read. */
export function azureUploadHeaderError(req: IncomingMessage): ObjectError | undefined {
  const blobType = req.headers['x-ms-blob-type'];
  if (blobType === undefined) {
    return objectError(
      400,
      'MissingRequiredHeader',
      "An HTTP header that's mandatory for this request is not specified.",
    );
  }
  if (blobType !== 'BlockBlob') {
    return objectError(
      400,
      'InvalidHeaderValue',
      'The value for one of the HTTP headers is not in the correct format.',
    );
  }
  return undefined;
}

/** The account's signing identity: which account, and its key. */
export interface AzureAccount {
  readonly name: string;
  readonly key: Buffer;
}

/** SAS fields of an Azure credential; the permission string is fixed per credential mode. */
export function sasFields(
  account: AzureAccount,
  credential: IssuedCredential,
): SasFields & { sig: string } {
  const fields: SasFields = {
    sv: AZURE_SAS_VERSION,
    sr: 'c',
    st: isoSeconds(credential.issuedAtMs - 5 * 60_000),
    se: isoSeconds(credential.expiresAtMs),
    sp: credential.mode === 'write' ? 'rwl' : 'rl',
  };
  const sig = azureSignature(
    account.key,
    credential.secret,
    account.name,
    credential.bucket,
    fields,
  );
  return { ...fields, sig };
}

export function sasQuery(account: AzureAccount, credential: IssuedCredential): string {
  const f = sasFields(account, credential);
  return [
    `sv=${f.sv}`,
    `sr=${f.sr}`,
    `st=${encodeURIComponent(f.st)}`,
    `se=${encodeURIComponent(f.se)}`,
    `sp=${f.sp}`,
    `sig=${encodeURIComponent(f.sig)}`,
  ].join('&');
}

/** `absCredentials` of a file detail or upload params, for a SAS query already recorded. */
export function absCredentials(
  baseUrl: string,
  account: AzureAccount,
  sas: string,
  expiresAtMs: number,
): Record<string, string> {
  return {
    SASConnectionString: `BlobEndpoint=${baseUrl}/azure/${account.name};SharedAccessSignature=${sas}`,
    expiration: phpTimestamp(expiresAtMs),
  };
}

function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** `2024-11-10T05:55:44+0000`: the PHP timestamp style of the Storage API. */
function phpTimestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}+0000`;
}
