/**
 * What loading the built job pulls into the process (docs/performance.md, Memory). CI runs this
 * on Node 24, the image's runtime, where an ES-module import of node:http loads Node's bundled
 * undici (src/node-http.ts), and on Node 20.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN = pathToFileURL(fileURLToPath(new URL('../../dist/main.js', import.meta.url))).href;

/** Imports the job's composition root in a fresh Node and lists what got loaded. */
function loadedBy(moduleUrl: string): { undici: string[]; packages: string[] } {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(moduleUrl)});
    const cache = Object.keys(createRequire(import.meta.url).cache);
    process.stdout.write(JSON.stringify({
      undici: process.moduleLoadList.filter((name) => /undici/i.test(name)),
      packages: cache.map((path) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(path)?.[1]).filter(Boolean),
    }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out) as { undici: string[]; packages: string[] };
}

describe('loading the job', () => {
  it("loads neither Node's bundled undici nor gelf-pro (loaded only when GELF is configured)", () => {
    const loaded = loadedBy(MAIN);
    expect(loaded.undici).toEqual([]);
    expect(loaded.packages).not.toContain('gelf-pro');
    expect(loaded.packages).not.toContain('axios');
  });
});
