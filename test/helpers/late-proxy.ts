import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A forwarding proxy on 127.0.0.1:0 in front of the emulator, for requests whose outcome the job
 * cannot know: one request matched by `holdNext` is read whole, then kept until `release()`, and
 * forwarded then even when its client has gone (killed, or aborted on SIGTERM). That is what a
 * gateway or a busy backend may do; the emulator's own `hold` and latency faults drop a request
 * whose client has gone, so they cannot show a late landing. Everything else is forwarded at once.
 */
export interface LateProxy {
  readonly url: string;
  /**
   * Holds the next request that matches; resolves once its whole body has arrived (the client
   * has sent it).
   */
  holdNext(match: (method: string, path: string, body: string) => boolean): Promise<void>;
  /** Forwards the held request; resolves with the upstream's status once it has answered. */
  release(): Promise<number>;
  close(): Promise<void>;
}

interface Held {
  readonly match: (method: string, path: string, body: string) => boolean;
  readonly arrived: () => void;
  forward?: () => Promise<number>;
}

export async function startLateProxy(targetUrl: string): Promise<LateProxy> {
  const target = new URL(targetUrl);
  let held: Held | undefined;

  function forward(req: IncomingMessage, body: Buffer): Promise<{ res: IncomingMessage }> {
    return new Promise((resolve, reject) => {
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          // The Host header stays the proxy's: object-store signatures cover it.
          headers: { ...req.headers, 'content-length': String(body.length) },
        },
        (res) => resolve({ res }),
      );
      upstream.once('error', reject);
      upstream.end(body);
    });
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      const relay = async (): Promise<number> => {
        const { res: answer } = await forward(req, body);
        const answerChunks: Buffer[] = [];
        for await (const chunk of answer) answerChunks.push(chunk as Buffer);
        // The client may be gone (a late request): its answer then goes nowhere.
        if (!res.destroyed) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(answerChunks));
        }
        return answer.statusCode ?? 502;
      };
      const hold = held;
      if (hold && !hold.forward && hold.match(req.method ?? 'GET', path, body.toString('utf8'))) {
        hold.forward = relay;
        hold.arrived();
        return;
      }
      relay().catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    holdNext(match) {
      return new Promise<void>((arrived) => {
        held = { match, arrived };
      });
    },
    async release() {
      const forwardHeld = held?.forward;
      held = undefined;
      if (!forwardHeld) throw new Error('no request is held');
      return forwardHeld();
    },
    async close() {
      held = undefined;
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
