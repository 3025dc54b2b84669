import { createHash, createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, globalAgent as httpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readIntoSharedBuffer } from '../../src/node-http.js';
import { readBody, sendObjectRequest } from '../../src/objects/object-http.js';

/**
 * Object-store downloads read their sockets into one shared buffer (src/node-http.ts). Many
 * downloads at once, over HTTP and HTTPS on loopback, must still each get exactly their own bytes.
 */

const TLS_DIR = join(import.meta.dirname, '..', 'fixtures', 'tls');
const BODY_BYTES = 3 * 1024 * 1024 + 17;
const DOWNLOADS = 6;

/** A distinct, reproducible body per path: an AES-CTR key stream keyed by the path. */
function bodyFor(path: string): Buffer {
  const key = createHash('sha256').update(path).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(BODY_BYTES));
}

/** Writes the body in uneven pieces, honouring backpressure, so reads split everywhere. */
const serveBody: RequestListener = (req, res) => {
  const body = bodyFor(req.url ?? '/');
  res.setHeader('content-length', body.length);
  let at = 0;
  const pump = () => {
    while (at < body.length) {
      const piece = body.subarray(at, at + 50_000 + (at % 30_011));
      at += piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
};

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function download(url: string): Promise<Buffer> {
  const response = await sendObjectRequest({
    method: 'GET',
    url,
    headers: {},
    target: { provider: 'aws', bucket: 'b', key: new URL(url).pathname },
  });
  expect(response.status).toBe(200);
  return readBody(response.body, 2 * BODY_BYTES, url);
}

describe('object downloads through the shared read buffer', () => {
  const http = createHttpServer(serveBody);
  const https = createHttpsServer(
    {
      key: readFileSync(join(TLS_DIR, 'localhost.key')),
      cert: readFileSync(join(TLS_DIR, 'localhost.crt')),
    },
    serveBody,
  );
  let httpHost = '';
  let httpsHost = '';
  const originalCa = httpsAgent.options.ca;
  type ReadCallback = typeof readIntoSharedBuffer.callback;
  // The method itself, `this` unbound: the socket calls it as its own.
  const originalCallback = Object.getOwnPropertyDescriptor(readIntoSharedBuffer, 'callback')
    ?.value as ReadCallback;
  let sharedReads = 0;

  beforeAll(async () => {
    httpHost = await listen(http);
    httpsHost = await listen(https);
    // Trust the test certificate for this file's requests (the default agent's options).
    httpsAgent.options.ca = readFileSync(join(TLS_DIR, 'localhost.crt'));
    readIntoSharedBuffer.callback = function (this, bytes, buffer) {
      sharedReads += 1;
      return originalCallback.call(this, bytes, buffer);
    };
  });

  afterAll(async () => {
    readIntoSharedBuffer.callback = originalCallback;
    httpsAgent.options.ca = originalCa;
    httpsAgent.destroy();
    await Promise.all([http, https].map((s) => new Promise((r) => s.close(r))));
  });

  it.each([
    ['http', () => httpHost],
    ['https', () => httpsHost],
  ])('%s: concurrent downloads each receive exactly their own body', async (scheme, host) => {
    const readsBefore = sharedReads;
    const paths = Array.from({ length: DOWNLOADS }, (_, i) => `/${scheme}/slice-${i}.gz`);
    const bodies = await Promise.all(paths.map((path) => download(`${scheme}://${host()}${path}`)));
    for (const [i, path] of paths.entries()) {
      expect(bodies[i]?.equals(bodyFor(path)), path).toBe(true);
    }
    // The sockets really read into the shared buffer: many reads, far fewer than bytes.
    expect(sharedReads - readsBefore).toBeGreaterThan(DOWNLOADS * 10);
  });
});

describe('an object request that reaches no server', () => {
  const SIGNED_QUERY = '?X-Amz-Signature=5ec7e75ec7e75ec7e7&X-Amz-Credential=AKIAEXAMPLE';

  /** The error of a GET of `url`. */
  async function failure(url: string): Promise<Error> {
    const error = await sendObjectRequest({
      method: 'GET',
      url,
      headers: {},
      target: { provider: 'aws', bucket: 'kbc-sapi-files', key: 'exp-15/orders.csv.gz' },
    }).catch((caught: unknown) => caught as Error);
    if (!(error instanceof Error)) throw new Error('the request did not fail');
    return error;
  }

  it('names the host and says the connection was refused, never the signed query', async () => {
    const server = createHttpServer();
    const host = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const error = await failure(`http://${host}/exp-15/orders.csv.gz${SIGNED_QUERY}`);
    expect(error.message).toBe(
      `GET aws kbc-sapi-files/exp-15/orders.csv.gz at ${host} failed (ECONNREFUSED): the connection was refused (nothing listens there)`,
    );
  });

  it('names the host and says its name does not resolve, never the signed query', async () => {
    const error = await failure(`https://kbc-sapi-files.s3.invalid/orders.csv.gz${SIGNED_QUERY}`);
    // ENOTFOUND here; a resolver that cannot be reached says EAI_AGAIN.
    expect(error.message).toMatch(
      /^GET aws kbc-sapi-files\/exp-15\/orders\.csv\.gz at kbc-sapi-files\.s3\.invalid failed \((ENOTFOUND\): the host name does not exist|EAI_AGAIN\): the host name could not be resolved \(DNS\))$/,
    );
    expect(error.message).not.toMatch(/Signature|Credential|\?/);
  });
});
