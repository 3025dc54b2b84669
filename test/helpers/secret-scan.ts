import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { listFiles } from './run-cli.js';

/**
 * The forms in which a secret could leak: plain, URL-encoded, base64 (and the middle of a
 * base64 run, which survives any alignment inside a longer blob).
 */
export function secretForms(secret: string): string[] {
  const b64 = Buffer.from(secret).toString('base64');
  const forms = [secret, encodeURIComponent(secret), b64];
  if (b64.length > 12) forms.push(b64.slice(4, -4));
  return [...new Set(forms.filter((f) => f.length >= 6))];
}

/**
 * Asserts that none of `secrets` appears in the captured outputs or in any file under `dataDir`
 * (except config.json, where the user put them). Gzip slices are binary and hold table data only,
 * but are scanned as text too.
 */
export async function expectNoSecrets(
  secrets: readonly string[],
  captured: { readonly stdout?: string; readonly stderr?: string },
  dataDir?: string,
): Promise<void> {
  const texts: Array<[string, string]> = [
    ['stdout', captured.stdout ?? ''],
    ['stderr', captured.stderr ?? ''],
  ];
  if (dataDir) {
    for (const file of await listFiles(dataDir)) {
      if (file === 'config.json') continue;
      // Only files the job could have written: a test may plant a link to a device.
      if (!(await stat(join(dataDir, file))).isFile()) continue;
      texts.push([file, await readFile(join(dataDir, file), 'latin1')]);
    }
  }
  const leaks: string[] = [];
  for (const secret of secrets) {
    for (const form of secretForms(secret)) {
      for (const [where, text] of texts) {
        if (text.includes(form))
          leaks.push(`${where} contains a form of secret ${secret.slice(0, 4)}…`);
      }
    }
  }
  expect(leaks).toEqual([]);
}
