import { UserError } from '../errors.js';
import type { ObjectStoreEndpoints } from './types.js';

/**
 * Object-store endpoints from the cloud SDKs' own environment variables (docs/providers.md, Endpoint overrides):
 * `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (S3, path-style); `STORAGE_EMULATOR_HOST` (GCS,
 * `http://` added when it has no scheme). Azure needs none: the SAS connection string's
 * `BlobEndpoint` decides. Pure.
 * @throws UserError naming the variable in use whose value is not an http(s) base URL (without
 *   showing the value, which may hold credentials)
 */
export function endpointsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): ObjectStoreEndpoints {
  const s3Name = nonEmpty(env['AWS_ENDPOINT_URL_S3']) ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
  const s3 = nonEmpty(env[s3Name]);
  const gcsHost = nonEmpty(env['STORAGE_EMULATOR_HOST']);
  const gcs = gcsHost && !/^[a-z][a-z0-9+.-]*:\/\//i.test(gcsHost) ? `http://${gcsHost}` : gcsHost;
  if (s3 !== undefined) checkBaseUrl(s3Name, s3);
  if (gcs !== undefined) checkBaseUrl('STORAGE_EMULATOR_HOST', gcs);
  return {
    ...(s3 !== undefined && { s3: s3.replace(/\/+$/, '') }),
    ...(gcs !== undefined && { gcs: gcs.replace(/\/+$/, '') }),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** An http(s) URL without a query or fragment: object paths are appended to it. */
function checkBaseUrl(name: string, value: string): void {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  const usable =
    url !== undefined &&
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    !/[?#]/.test(value);
  if (usable) return;
  throw new UserError(
    `The environment variable ${name} is not an http(s) base URL: set it to the object store's address, such as http://127.0.0.1:9000 (docs/providers.md, Endpoint overrides), or unset it.`,
  );
}
