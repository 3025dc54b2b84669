import * as z from 'zod';
import { ServiceError } from '../errors.js';
import type { FileDetail, FileProvider, ManifestEntry, PreparedFile } from '../storage/types.js';
import { parseSasConnectionString } from './azure.js';
import { safeDecodeUri } from '../text/uri.js';

/**
 * Sliced-file manifests (docs/storage-api-notes.md, Sliced files and their manifests): `{"entries":[{"url":"s3://bucket/key…","mandatory":true}]}`
 * stored at `key + "manifest"`; the file detail's signed `url` points at it. Slice names are the
 * opaque part of each entry URL after the file's own prefix. Pure functions only.
 */

/** Where a file's objects live: the key (ABS: blob name) is the prefix of every slice. */
export interface FileLocation {
  readonly provider: FileProvider;
  /** S3/GCS bucket, ABS container. */
  readonly bucket: string;
  /** S3/GCS key, ABS blob name. */
  readonly key: string;
  /** ABS only: the storage account (upload params' `accountName`, else the BlobEndpoint host). */
  readonly accountName?: string;
}

export class ManifestError extends ServiceError {
  override name = 'ManifestError';
}

/** The location of an exported file, from its provider path block. */
export function locationOfFile(file: FileDetail): FileLocation {
  switch (file.provider) {
    case 'aws':
      if (!file.s3Path) throw missingBlock(file.id, 's3Path');
      return { provider: 'aws', bucket: file.s3Path.bucket, key: file.s3Path.key };
    case 'azure': {
      if (!file.absPath) throw missingBlock(file.id, 'absPath');
      const account = file.absCredentials
        ? accountOfEndpoint(
            parseSasConnectionString(file.absCredentials.SASConnectionString).blobEndpoint,
          )
        : undefined;
      return {
        provider: 'azure',
        bucket: file.absPath.container,
        key: file.absPath.name,
        ...(account !== undefined && { accountName: account }),
      };
    }
    case 'gcp':
      if (!file.gcsPath) throw missingBlock(file.id, 'gcsPath');
      return { provider: 'gcp', bucket: file.gcsPath.bucket, key: file.gcsPath.key };
  }
}

/** The location of a prepared upload, from its upload params. */
export function locationOfPrepared(prepared: PreparedFile): FileLocation {
  switch (prepared.provider) {
    case 'aws': {
      const params = prepared.uploadParams;
      if (!params) throw missingBlock(prepared.id, 'uploadParams');
      return { provider: 'aws', bucket: params.bucket, key: params.key };
    }
    case 'azure': {
      const params = prepared.absUploadParams;
      if (!params) throw missingBlock(prepared.id, 'absUploadParams');
      return {
        provider: 'azure',
        bucket: params.container,
        key: params.blobName,
        accountName: params.accountName,
      };
    }
    case 'gcp': {
      const params = prepared.gcsUploadParams;
      if (!params) throw missingBlock(prepared.id, 'gcsUploadParams');
      return { provider: 'gcp', bucket: params.bucket, key: params.key };
    }
  }
}

/**
 * Storage account of a BlobEndpoint: `https://kbcfsxyz.blob.core.windows.net` → `kbcfsxyz`;
 * emulator style `http://127.0.0.1:10000/devstoreaccount1` → `devstoreaccount1`.
 */
export function accountOfEndpoint(blobEndpoint: string): string | undefined {
  try {
    const url = new URL(blobEndpoint);
    const pathAccount = url.pathname.split('/').filter(Boolean)[0];
    if (pathAccount) return pathAccount;
    const label = url.hostname.split('.')[0];
    return label && !/^\d+$/.test(label) ? label : undefined;
  } catch {
    return undefined;
  }
}

/** A file detail without the provider block a transfer needs: the service's fault (exit 2). */
export function missingBlock(fileId: number, block: string): ManifestError {
  return new ManifestError(`File ${fileId} came without ${block}; cannot transfer it`);
}

const manifestSchema = z.object({
  entries: z
    .array(z.object({ url: z.string().min(1), mandatory: z.boolean().optional() }))
    .nullable()
    .optional(),
});

/** Parses manifest JSON; zero entries (an empty table) is valid. */
export function parseManifest(text: string, fileId: number): ManifestEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ManifestError(`The manifest of file ${fileId} is not JSON`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ManifestError(`The manifest of file ${fileId} has no valid "entries" list`);
  }
  return (parsed.data.entries ?? []).map((entry) =>
    entry.mandatory === undefined
      ? { url: entry.url }
      : { url: entry.url, mandatory: entry.mandatory },
  );
}

/** The entry URL of the file's prefix itself, in the provider's scheme (for messages and checks). */
export function prefixUrl(location: FileLocation): string {
  switch (location.provider) {
    case 'aws':
      return `s3://${location.bucket}/${location.key}`;
    case 'gcp':
      return `gs://${location.bucket}/${location.key}`;
    case 'azure':
      return `azure://${location.accountName ?? '<account>'}.blob.core.windows.net/${location.bucket}/${location.key}`;
  }
}

/**
 * The opaque slice name of a manifest entry: its URL minus the file's prefix.
 * S3 `s3://{bucket}/{key}…`, GCS `gs://{bucket}/{key}…`, ABS `azure://{host}/{container}/{name}…`
 * (also `https://`, and emulator-style `http(s)://host/{account}/{container}/{name}…`).
 * @throws ManifestError when the entry lies outside the prefix (the credentials could not read it),
 * or has a query, a fragment or a `.` or `..` segment.
 */
export function sliceNameOf(entryUrl: string, location: FileLocation, fileId: number): string {
  const shown = entryUrl.split(/[?#]/)[0] ?? '';
  const name =
    location.provider === 'azure'
      ? azureSliceName(entryUrl, location)
      : schemeSliceName(entryUrl, location);
  if (name === undefined || name === '') {
    throw new ManifestError(
      `Manifest entry "${shown}" of file ${fileId} lies outside the file's prefix ${prefixUrl(location)}`,
    );
  }
  // Storage's entries are plain object URLs; a query or fragment would be a signature or junk,
  // which a slice name carries into messages and logs.
  if (/[?#]/.test(name)) {
    throw new ManifestError(
      `Manifest entry "${shown}" of file ${fileId} has a query or fragment; an entry names an object, nothing else`,
    );
  }
  if (hasDotSegment(location.key + name)) {
    throw new ManifestError(
      `Manifest entry "${shown}" of file ${fileId} has a "." or ".." path segment, which would read another object than the one it names`,
    );
  }
  return name;
}

/**
 * Whether a key has a `.` or `..` segment. A request URL resolves them away (as it does their
 * percent-encoded forms, which the key encoders pass on as dots), so such an entry would read
 * another object: one outside the file's prefix, or a slice listed again under another name.
 */
function hasDotSegment(key: string): boolean {
  return key.split('/').some((segment) => {
    const decoded = safeDecodeUri(segment);
    return decoded === '.' || decoded === '..';
  });
}

/**
 * The slice names of a manifest's entries, in order.
 * @throws ManifestError for an entry outside the prefix or with a query, and for a slice listed
 * twice: its rows would be copied twice.
 */
export function sliceNamesOf(
  entries: readonly ManifestEntry[],
  location: FileLocation,
  fileId: number,
): string[] {
  const names = entries.map((entry) => sliceNameOf(entry.url, location, fileId));
  const twice = names.find((name, index) => names.indexOf(name) !== index);
  if (twice !== undefined) {
    throw new ManifestError(
      `The manifest of file ${fileId} lists the slice "${twice}" twice; refusing to copy its rows twice`,
    );
  }
  return names;
}

function schemeSliceName(entryUrl: string, location: FileLocation): string | undefined {
  const prefix = prefixUrl(location);
  return entryUrl.startsWith(prefix) ? entryUrl.slice(prefix.length) : undefined;
}

function azureSliceName(entryUrl: string, location: FileLocation): string | undefined {
  const match = /^(?:azure|https?):\/\/[^/]+(\/.*)$/i.exec(entryUrl);
  if (!match?.[1]) return undefined;
  const path = match[1].split('?')[0] ?? '';
  const direct = `/${location.bucket}/${location.key}`;
  for (const candidate of [path, safeDecodeUri(path)]) {
    if (candidate.startsWith(direct)) return candidate.slice(direct.length);
    const accountStyle = /^\/[^/]+(\/.*)$/.exec(candidate)?.[1];
    if (accountStyle?.startsWith(direct)) return accountStyle.slice(direct.length);
  }
  return undefined;
}

/** The manifest entry URL of an uploaded slice, in the provider's scheme. */
export function entryUrlOf(location: FileLocation, sliceName: string): string {
  if (location.provider === 'azure' && location.accountName === undefined) {
    throw new ManifestError('An Azure upload needs the account name for its manifest entries');
  }
  return `${prefixUrl(location)}${sliceName}`;
}

/** The manifest body written last by a sliced upload; every entry `mandatory: true`. */
export function manifestBody(location: FileLocation, sliceNames: readonly string[]): Buffer {
  const entries = sliceNames.map((name) => ({ url: entryUrlOf(location, name), mandatory: true }));
  return Buffer.from(JSON.stringify({ entries }));
}

/** Key of the manifest object: `key + "manifest"`. */
export function manifestKey(location: FileLocation): string {
  return `${location.key}manifest`;
}
