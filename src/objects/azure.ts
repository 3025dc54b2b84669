import type { Readable } from 'node:stream';
import { StorageResponseError } from '../storage/parse.js';
import { failedResponse, isSuccess, type ObjectHttp, type ObjectRequest } from './object-http.js';
import type { ProviderAccess } from './provider.js';

/**
 * Azure Blob Storage access through a SAS: `{BlobEndpoint}/{container}/{blob}?{sas}`. Reads use
 * the file detail's SAS (`sp=rl`), uploads the `absUploadParams` SAS (`sp=rwl`) as BlockBlob.
 */

/** REST API version sent as `x-ms-version` (single-shot BlockBlob PUT up to 5000 MiB). */
const AZURE_API_VERSION = '2021-08-06';

export interface SasConnection {
  /** `https://{account}.blob.core.windows.net` or an emulator `http://127.0.0.1:10000/devstoreaccount1`. */
  readonly blobEndpoint: string;
  /** The SAS query string without a leading `?`. Secret. */
  readonly sas: string;
}

/**
 * Parses `BlobEndpoint=…;SharedAccessSignature=…` (order-free, `;`-separated, values may hold `=`).
 * @throws StorageResponseError when Storage sent one without either field (never quoting it)
 */
export function parseSasConnectionString(connectionString: string): SasConnection {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const blobEndpoint = fields.get('blobendpoint');
  const sas = fields.get('sharedaccesssignature');
  if (!blobEndpoint || !sas) {
    throw new StorageResponseError(
      'The Azure SAS connection string Storage sent lacks BlobEndpoint or SharedAccessSignature.',
    );
  }
  return { blobEndpoint: blobEndpoint.replace(/\/+$/, ''), sas: sas.replace(/^\?/, '') };
}

/** Blob URL with the SAS appended. Each blob-name segment is percent-encoded, slashes kept. */
export function azureBlobUrl(
  connection: SasConnection,
  container: string,
  blobName: string,
): string {
  const path = blobName.split('/').map(encodeURIComponent).join('/');
  return `${connection.blobEndpoint}/${encodeURIComponent(container)}/${path}?${connection.sas}`;
}

/** 403 `AuthenticationFailed` / `AuthorizationFailure` (a SAS past its `se`), or any bare 403. */
function isAzureCredentialFailure(status: number, code: string | undefined): boolean {
  if (status !== 403) return false;
  return (
    code === undefined ||
    code === 'AuthenticationFailed' ||
    code === 'AuthorizationFailure' ||
    code === 'AuthorizationPermissionMismatch'
  );
}

export function azureAccess(
  connection: SasConnection,
  container: string,
  http: ObjectHttp,
): ProviderAccess {
  const request = (
    method: 'GET' | 'PUT',
    blobName: string,
    headers: Record<string, string>,
    body: Readable | Buffer | undefined,
    signal: AbortSignal | undefined,
  ): ObjectRequest => ({
    method,
    url: azureBlobUrl(connection, container, blobName),
    headers: { 'x-ms-version': AZURE_API_VERSION, ...headers },
    body,
    signal,
    target: { provider: 'azure', bucket: container, key: blobName },
  });
  return {
    async get(blobName, signal) {
      const req = request('GET', blobName, {}, undefined, signal);
      const response = await http(req);
      if (isSuccess(response.status)) return response;
      throw await failedResponse(req, response, isAzureCredentialFailure);
    },
    async put(blobName, body, contentLength, signal) {
      const headers = {
        'x-ms-blob-type': 'BlockBlob',
        'Content-Length': String(contentLength),
        'Content-Type': 'application/octet-stream',
      };
      const req = request('PUT', blobName, headers, body, signal);
      const response = await http(req);
      if (isSuccess(response.status)) {
        response.body.resume();
        return;
      }
      throw await failedResponse(req, response, isAzureCredentialFailure);
    },
  };
}
