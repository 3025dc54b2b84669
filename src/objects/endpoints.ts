import type { ObjectStoreEndpoints } from './types.js';

/**
 * Object-store endpoints from the cloud SDKs' own environment variables (docs/providers.md, Endpoint overrides):
 * `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (S3, path-style); `STORAGE_EMULATOR_HOST` (GCS,
 * `http://` added when it has no scheme). Azure needs none: the SAS connection string's
 * `BlobEndpoint` decides.
 */
export function endpointsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): ObjectStoreEndpoints {
  const s3 = nonEmpty(env['AWS_ENDPOINT_URL_S3']) ?? nonEmpty(env['AWS_ENDPOINT_URL']);
  const gcsHost = nonEmpty(env['STORAGE_EMULATOR_HOST']);
  const gcs = gcsHost && !/^[a-z][a-z0-9+.-]*:\/\//i.test(gcsHost) ? `http://${gcsHost}` : gcsHost;
  return {
    ...(s3 !== undefined && { s3: s3.replace(/\/+$/, '') }),
    ...(gcs !== undefined && { gcs: gcs.replace(/\/+$/, '') }),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
