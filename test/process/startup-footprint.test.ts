/**
 * What loading the built job pulls into the process, and what it needs beside it (docs/performance.md, Memory). CI runs this
 * on Node 24, the image's runtime, where an ES-module import of node:http loads Node's bundled
 * undici (src/node-http.ts), and on Node 20.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startGelfListener } from '../helpers/gelf-listener.js';
import { startCliProcess } from '../helpers/run-cli.js';

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
  it("loads neither Node's bundled undici nor any file from node_modules (one bundle; gelf-pro only when GELF is configured)", () => {
    const loaded = loadedBy(MAIN);
    expect(loaded.undici).toEqual([]);
    expect(loaded.packages).toEqual([]);
  });
  it("is one-byte source without zod's other locales (half the memory for V8's copy of the source)", async () => {
    const bundle = await readFile(new URL('../../dist/main.js', import.meta.url));
    // Any byte above 0x7f makes V8 hold the whole 0.7 MB source as UTF-16 (docs/performance.md).
    const firstNonAscii = bundle.findIndex((byte) => byte > 0x7f);
    expect(firstNonAscii).toBe(-1);
    const text = bundle.toString('latin1');
    // English messages stay (config errors quote them); the German locale's must not come back.
    expect(text).toContain('Invalid input: expected');
    expect(text).not.toMatch(/Ung(?:\\xFC|\u00FC)ltige Eingabe/);
  });
  it('writes GELF frames when GELF is configured, from dist/ alone (no node_modules, as in the image)', async () => {
    const gelf = await startGelfListener();
    const dataDir = await mkdtemp(join(tmpdir(), 'kts-gelf-'));
    // The built job as the image ships it: dist/ and package.json, no node_modules on any path up.
    const app = await mkdtemp(join(tmpdir(), 'kts-app-'));
    try {
      await cp(fileURLToPath(new URL('../../dist', import.meta.url)), join(app, 'dist'), {
        recursive: true,
      });
      await cp(
        fileURLToPath(new URL('../../package.json', import.meta.url)),
        join(app, 'package.json'),
      );
      // A Storage API where nothing listens: the run fails at once, and says so over GELF.
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      await writeFile(
        join(dataDir, 'config.json'),
        JSON.stringify({
          parameters: {
            '#token': `101-1001-${'b'.repeat(40)}`,
            url: `http://127.0.0.1:${closedPort}`,
            tables: [{ name: 't' }],
          },
        }),
      );
      const result = await startCliProcess(['run', '--data', dataDir], {
        env: { KBC_RUNID: '1.2', KBC_LOGGER_ADDR: '127.0.0.1', KBC_LOGGER_PORT: String(gelf.port) },
        cli: join(app, 'dist', 'main.js'),
      }).done;
      await gelf.waitFor('Cannot reach');
      expect(result.code, result.stderr).toBe(1);
      const messages = gelf.frames.map((frame) => JSON.parse(frame) as { short_message: string });
      expect(messages.map((m) => m.short_message).join('\n')).toMatch(
        /Cannot reach the Storage API/,
      );
    } finally {
      await gelf.close();
      await rm(dataDir, { recursive: true, force: true });
      await rm(app, { recursive: true, force: true });
    }
  });
  it('names its version in --version and in its Storage API User-Agent from dist/ alone', async () => {
    const { version } = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const agents: string[] = [];
    // A Storage API that refuses every token: the run stops after its first request.
    const api = createHttpServer((request, response) => {
      agents.push(request.headers['user-agent'] ?? '');
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'Invalid access token', code: 'storage.tokenInvalid' }));
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const app = await mkdtemp(join(tmpdir(), 'kts-app-'));
    const dataDir = await mkdtemp(join(tmpdir(), 'kts-agent-'));
    try {
      await cp(fileURLToPath(new URL('../../dist', import.meta.url)), join(app, 'dist'), {
        recursive: true,
      });
      const cli = join(app, 'dist', 'main.js');
      const printed = await startCliProcess(['--version'], { cli }).done;
      expect({ code: printed.code, stdout: printed.stdout.trim() }).toEqual({
        code: 0,
        stdout: version,
      });
      await writeFile(
        join(dataDir, 'config.json'),
        JSON.stringify({
          parameters: {
            '#token': `101-1001-${'b'.repeat(40)}`,
            url: `http://127.0.0.1:${(api.address() as AddressInfo).port}`,
            tables: [{ name: 't' }],
          },
        }),
      );
      const result = await startCliProcess(['run', '--data', dataDir], { cli }).done;
      expect(result.code, result.stderr).toBe(1);
      expect(agents.length).toBeGreaterThan(0);
      expect(new Set(agents)).toEqual(new Set([`kbc-table-sync/${version}`]));
    } finally {
      await new Promise((resolve) => api.close(resolve));
      await rm(dataDir, { recursive: true, force: true });
      await rm(app, { recursive: true, force: true });
    }
  });
});
