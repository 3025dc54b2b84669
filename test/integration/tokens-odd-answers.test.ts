/**
 * A create or refresh answer that holds the new token string but other fields of an odd shape
 * (docs/tokens.md): the string is shown only in that answer, so reading it must not fail on a
 * field that is only shown. A proxy in front of the emulator changes the minting answers.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeedInput } from 'keboola-storage-emulator';
import { useEmulator } from '../helpers/emulator.js';
import { makeDataDir, runCli } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';

const MASTER = '101-1101-5ea1e5f0c0ffee00000000000000000000001101';
const seed: SeedInput = {
  projects: [
    {
      id: 101,
      name: 'Sales',
      buckets: [{ id: 'in.c-sales', tables: [{ name: 'orders', columns: ['id'], rows: [['1']] }] }],
      tokens: [{ token: MASTER, description: 'admin master', isMasterToken: true, role: 'admin' }],
    },
  ],
};
const emulator = useEmulator(seed);
const MINTING = /^\/v2\/storage\/tokens(\/[^/]+\/refresh)?$/;
let proxy: Server;
let proxyUrl = '';

/** Passes every request on; a minting answer gets a null flag and a number for a date. */
function oddMintingProxy(): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(req.headers)) {
        if (typeof value === 'string' && key !== 'host' && key !== 'accept-encoding') {
          headers[key] = value;
        }
      }
      void (async () => {
        const upstream = await fetch(`${emulator.url}${req.url ?? ''}`, {
          method: req.method ?? 'GET',
          headers,
          ...(chunks.length > 0 && { body: Buffer.concat(chunks) }),
        });
        let text = await upstream.text();
        if (req.method === 'POST' && MINTING.test(req.url ?? '') && upstream.ok) {
          const body = JSON.parse(text) as Record<string, unknown>;
          body.canManageProtectedDefaultBranch = null;
          body.created = 1_767_225_600;
          text = JSON.stringify(body);
        }
        const type = upstream.headers.get('content-type') ?? 'application/json';
        res.writeHead(upstream.status, { 'content-type': type });
        res.end(upstream.status === 204 ? undefined : text);
      })();
    });
  });
}

beforeAll(async () => {
  proxy = oddMintingProxy();
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  proxyUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

async function verifyStatus(token: string): Promise<number> {
  const response = await fetch(`${emulator.url}/v2/storage/tokens/verify`, {
    headers: { 'X-StorageApi-Token': token },
  });
  await response.arrayBuffer();
  return response.status;
}

describe('a minting answer with fields of an odd shape', () => {
  it('token rotate writes the new string into config.json', async () => {
    const old = emulator.control.createToken(101, { bucketPermissions: { 'in.c-sales': 'read' } });
    const dir = await makeDataDir({
      parameters: { url: proxyUrl, '#token': old, tables: [{ name: 'orders' }] },
    });
    const result = await runCli(['token', 'rotate', '--data', dir]);
    expect(result.code, result.stderr).toBe(0);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
      parameters: { '#token': string };
    };
    const rotated = config.parameters['#token'];
    expect(rotated).not.toBe(old);
    expect(await verifyStatus(rotated)).toBe(200);
    expect(await verifyStatus(old)).toBe(401);
    await expectNoSecrets([old, rotated, MASTER], result);
  });

  it('token create hands out the new token', async () => {
    const dir = await makeDataDir({ parameters: { url: proxyUrl, tables: [{ name: 'orders' }] } });
    const result = await runCli(
      ['token', 'create', '--bucket', 'in.c-sales', '--expires-in', '1d', '--write-config', dir],
      { env: { KBC_MASTER_TOKEN: MASTER } },
    );
    expect(result.code, result.stderr).toBe(0);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
      parameters: { '#token': string };
    };
    expect(await verifyStatus(config.parameters['#token'])).toBe(200);
    await expectNoSecrets([config.parameters['#token'], MASTER], result);
  });
});
