import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A forwarding proxy on 127.0.0.1:0 in front of the emulator, for answers the emulator itself
 * never gives: `rewrite` may change an answer's body (read whole, sent with its new length), and
 * `takeOver` may answer a request itself on the raw socket (returning true). Everything else is
 * forwarded as it is.
 */
export interface RewritingProxyOptions {
  readonly rewrite?: (req: IncomingMessage, body: string) => string;
  /** Sends the client's own Host header on (signed object-store requests sign it). */
  readonly keepHost?: boolean;
  readonly takeOver?: (req: IncomingMessage, socket: Socket) => boolean;
}

export interface RewritingProxy {
  readonly url: string;
  close(): Promise<void>;
}

export async function startRewritingProxy(
  target: string,
  options: RewritingProxyOptions,
): Promise<RewritingProxy> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    if (options.takeOver?.(req, req.socket)) return;
    const headers = { ...req.headers, host: options.keepHost ? req.headers.host : upstream.host };
    // Plain bodies only, so that they can be rewritten.
    delete headers['accept-encoding'];
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        const rewrite = options.rewrite;
        if (!rewrite) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const body = rewrite(req, Buffer.concat(chunks).toString('utf8'));
          const out = { ...answer.headers, 'content-length': String(Buffer.byteLength(body)) };
          delete out['transfer-encoding'];
          res.writeHead(answer.statusCode ?? 502, out);
          res.end(body);
        });
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
