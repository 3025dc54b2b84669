/**
 * Where Storage files live in the emulated object store, per provider, and the sliced-manifest
 * entry URL schemes (docs/storage-api-notes.md, Sliced files and their manifests): `s3://bucket/key`, `gs://bucket/key`,
 * `azure://{account}.blob.core.windows.net/{container}/{blob}`.
 */
import {
  EMULATED_AZURE_ACCOUNT,
  type ObjectLocation,
  type Provider,
} from './objects/object-store.js';

/** S3 bucket of every AWS project's files. */
const S3_FILES_BUCKET = 'kbc-sapi-files';
/** GCS bucket of every GCP project's files. */
const GCS_FILES_BUCKET = 'kbc-sapi-files-gcs';
/** Azure storage account name used in `azure://` manifest entries (the object store's). */
const AZURE_ACCOUNT_NAME = EMULATED_AZURE_ACCOUNT;

/**
 * The object location of a file of a project. `relativeKey` is e.g.
 * `table-exports/in/c-sales/orders/100001.csv.gz` or `files/2024/02/14/100002.data.csv.gz`.
 * AWS and GCP use one bucket with `exp-15/<projectId>/` keys; Azure one container per project.
 */
export function fileLocation(
  provider: Provider,
  projectId: number,
  relativeKey: string,
): ObjectLocation {
  if (provider === 'azure') return { bucket: `exp-15-files-${projectId}`, key: relativeKey };
  const bucket = provider === 'gcp' ? GCS_FILES_BUCKET : S3_FILES_BUCKET;
  return { bucket, key: `exp-15/${projectId}/${relativeKey}` };
}

/** Manifest entry URL of an object in the provider's scheme. */
export function manifestEntryUrl(provider: Provider, loc: ObjectLocation): string {
  if (provider === 'aws') return `s3://${loc.bucket}/${loc.key}`;
  if (provider === 'gcp') return `gs://${loc.bucket}/${loc.key}`;
  return `azure://${AZURE_ACCOUNT_NAME}.blob.core.windows.net/${loc.bucket}/${loc.key}`;
}

/**
 * The object location named by a manifest entry URL (any of the three schemes, or an `https://`
 * Azure URL, also the emulator's `/azure/{account}/…` form); undefined when unparseable.
 */
export function locationFromEntryUrl(url: string): ObjectLocation | undefined {
  const match = /^(s3|gs|azure|https?):\/\/([^/]+)\/(.+)$/.exec(url);
  if (!match?.[1] || !match[3]) return undefined;
  const scheme = match[1];
  let path = match[3];
  if (scheme === 's3' || scheme === 'gs') return splitFirst(path, match[2] ?? '');
  if (path.startsWith('azure/')) path = path.split('/').slice(2).join('/');
  return splitFirst(path);
}

function splitFirst(path: string, bucket?: string): ObjectLocation | undefined {
  if (bucket !== undefined) return path ? { bucket, key: path } : undefined;
  const slash = path.indexOf('/');
  if (slash <= 0 || slash === path.length - 1) return undefined;
  return { bucket: path.slice(0, slash), key: path.slice(slash + 1) };
}

/** `2024/02/14` of an instant (UTC), for prepared-file keys. */
export function datePath(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '/');
}
