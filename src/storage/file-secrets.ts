import type { SecretMasker } from '../secrets.js';

/**
 * Registers every credential of a file answer with the masker before anything else reads it:
 * S3 access key id, secret and session token, SAS connection string and its signature, GCS bearer
 * token, and the query string of the signed `url`. The access key id alone opens nothing, but it
 * names the temporary credentials and is shown by no message, so it is masked like them.
 */
export function registerFileSecrets(masker: SecretMasker, raw: unknown): void {
  if (typeof raw !== 'object' || raw === null) return;
  const file = raw as Record<string, unknown>;
  const url = file['url'];
  if (typeof url === 'string') registerUrlQuery(masker, url);
  for (const block of [file, file['uploadParams'], file['absUploadParams']]) {
    if (typeof block !== 'object' || block === null) continue;
    const record = block as Record<string, unknown>;
    registerS3(masker, record['credentials']);
    registerSas(masker, record['absCredentials']);
  }
  for (const block of [file['gcsCredentials'], file['gcsUploadParams']]) {
    if (typeof block === 'object' && block !== null) {
      const token = (block as Record<string, unknown>)['access_token'];
      if (typeof token === 'string') masker.add(token);
    }
  }
}

function registerS3(masker: SecretMasker, value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const credentials = value as Record<string, unknown>;
  for (const key of ['AccessKeyId', 'SecretAccessKey', 'SessionToken']) {
    const secret = credentials[key];
    if (typeof secret === 'string') masker.add(secret);
  }
}

function registerSas(masker: SecretMasker, value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const connection = (value as Record<string, unknown>)['SASConnectionString'];
  if (typeof connection !== 'string') return;
  masker.add(connection);
  const sas = /SharedAccessSignature=([^;]+)/.exec(connection)?.[1];
  if (sas) registerQuery(masker, sas);
}

/** Registers a signed URL's whole query and each signature-like parameter of it. */
function registerUrlQuery(masker: SecretMasker, url: string): void {
  const queryStart = url.indexOf('?');
  if (queryStart >= 0) registerQuery(masker, url.slice(queryStart + 1));
}

/** Registers a query string (a SAS) and each signature-like parameter of it. */
function registerQuery(masker: SecretMasker, query: string): void {
  masker.add(query);
  for (const [key, value] of new URLSearchParams(query)) {
    if (/sig|signature|token|credential/i.test(key)) {
      masker.add(value);
      masker.add(encodeURIComponent(value));
    }
  }
}
