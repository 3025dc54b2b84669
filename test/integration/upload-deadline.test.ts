/**
 * Standalone uploads against a destination object store that takes a slice's body and then
 * withholds its answer (docs/limits.md, total time of one request): each attempt ends at the
 * request timeout, the slice is retried, and the run ends with exit 2 naming the store. A proxy in
 * front of the emulator's S3 takes the slice PUTs over.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { startRewritingProxy } from '../helpers/rewriting-proxy.js';
import { makeDataDir } from '../helpers/run-cli.js';
import { T0_MS, runJob, standaloneConfig, standaloneSeed } from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());
const SLICE_PUT = /\.part-\d+\.gz$/;
const timers: NodeJS.Timeout[] = [];
afterEach(() => {
  for (const timer of timers.splice(0)) clearInterval(timer);
});

/** After a slice PUT's whole body, writes `head` and then one byte of `drip` every 500 ms. */
function withheldAnswer(head: string, drip: string) {
  return (req: IncomingMessage, socket: Socket): boolean => {
    if (req.method !== 'PUT' || !SLICE_PUT.test(req.url?.split('?')[0] ?? '')) return false;
    req.resume();
    req.on('end', () => {
      socket.write(head);
      const timer = setInterval(() => {
        if (!socket.destroyed) socket.write(drip);
      }, 500);
      timers.push(timer);
    });
    return true;
  };
}

describe('a destination store that withholds its answer to a slice upload', () => {
  it.each([
    [
      'trickles its headers',
      'HTTP/1.1 200 OK\r\nX-Slow: ',
      'a',
      / failed \(ETIMEDOUT\): it did not answer within 1 s \(KBC_TABLE_SYNC_REQUEST_TIMEOUT_S\)/,
    ],
    [
      'trickles the error body of a 503',
      'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n',
      '1\r\n<\r\n',
      / answered 503/,
    ],
  ])(
    '%s: each attempt ends at the request timeout, then exit 2',
    async (_name, head, drip, says) => {
      const { control, url } = emulator;
      control.setClock(T0_MS);
      let slicePuts = 0;
      const withhold = withheldAnswer(head, drip);
      const proxy = await startRewritingProxy(url, {
        keepHost: true,
        takeOver: (req, socket) => {
          if (req.method === 'PUT' && SLICE_PUT.test(req.url?.split('?')[0] ?? '')) slicePuts += 1;
          return withhold(req, socket);
        },
      });
      try {
        const dataDir = await makeDataDir(
          standaloneConfig(url, [{ name: 'events', destination: 'events_withheld' }]),
        );
        const result = await runJob(url, dataDir, [], {
          AWS_ENDPOINT_URL_S3: proxy.url,
          KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '1',
          KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS: '10',
        });
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toMatch(/PUT aws \S+events_withheld\S+/);
        expect(result.stderr).toMatch(says);
        expect(slicePuts).toBeGreaterThan(1);
      } finally {
        await proxy.close();
      }
    },
    90_000,
  );
});
