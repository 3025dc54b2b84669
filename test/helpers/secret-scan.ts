import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { listFiles } from './run-cli.js';

/**
 * The forms in which a secret could leak: plain, URL-encoded, JSON-escaped (once and twice),
 * base64, and the middle of its base64 inside a longer blob at each of the 3 alignments (a secret
 * preceded by 0, 1 or 2 bytes is encoded in 3 entirely different ways; the first and the last
 * group of 4 letters depend on the neighbours). A Storage API token's 40-character secret part is
 * a secret on its own (its project and token ids are public), in the same forms.
 */
export function secretForms(secret: string): string[] {
  const part = /^\d+-\d+-([A-Za-z0-9]{40})$/.exec(secret)?.[1];
  return [...new Set([secret, ...(part === undefined ? [] : [part])].flatMap(formsOfOneSecret))];
}

function formsOfOneSecret(secret: string): string[] {
  const once = JSON.stringify(secret).slice(1, -1);
  const bytes = Buffer.from(secret);
  const forms = [
    secret,
    encodeURIComponent(secret),
    once,
    JSON.stringify(once).slice(1, -1),
    bytes.toString('base64'),
  ];
  for (const shift of [0, 1, 2]) {
    const middle = Buffer.concat([Buffer.alloc(shift), bytes])
      .toString('base64')
      .slice(4, -4);
    if (middle.length >= 16) forms.push(middle);
  }
  return forms.filter((f) => f.length >= 6);
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
      // Only files the job could have written: a test may plant a link to a device, to nothing or
      // to itself.
      const info = await stat(join(dataDir, file)).catch(() => undefined);
      if (!info?.isFile()) continue;
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
