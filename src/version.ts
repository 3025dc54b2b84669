import { readFileSync } from 'node:fs';

/**
 * package.json's version, written into the bundle by scripts/build-job.mjs (esbuild `define`).
 * Undeclared when the job runs from source (tests, `npm run dev`): then package.json beside `src/`
 * is read. The bundle cannot read package.json by a path relative to its own module, because
 * dist/main.js sits at another depth than the source module that would read it.
 */
declare const KBC_TABLE_SYNC_VERSION: string | undefined;

let cachedVersion: string | undefined;

/** The job's version, for `--version` and the User-Agent; `unknown` when it cannot be found. */
export function packageVersion(): string {
  cachedVersion ??=
    typeof KBC_TABLE_SYNC_VERSION === 'string' ? KBC_TABLE_SYNC_VERSION : versionFromSource();
  return cachedVersion;
}

function versionFromSource(): string {
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}
