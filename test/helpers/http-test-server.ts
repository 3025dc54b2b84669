import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny scripted HTTP server on 127.0.0.1:0 for adapter tests: per route (`METHOD /path`, no
 * query) a queue of answers, the last one repeating, or a handler; every request is recorded.
 */

export interface ScriptedAnswer {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Raw response bytes instead of JSON (`body` is then ignored). */
  readonly raw?: Buffer;
  /** Destroy the socket instead of answering (after the request body was read). */
  readonly destroy?: boolean;
  /** Writes the whole answer itself (streaming, trickling, endless bodies); the rest is ignored. */
  readonly respond?: (res: ServerResponse) => void;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: string;
  readonly bodyBytes: Buffer;
  /** Parsed JSON body, or undefined. */
  readonly body: unknown;
}

export type RouteHandler = (request: RecordedRequest) => ScriptedAnswer | Promise<ScriptedAnswer>;

export interface HttpTestServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Replaces the script of a route. */
  route(method: string, path: string, ...answers: (ScriptedAnswer | RouteHandler)[]): void;
  /** Answers requests that match no route (default: 404). */
  fallback(handler: RouteHandler | undefined): void;
  /** Requests seen on a route. */
  count(method: string, path: string): number;
  /** Forgets routes and recorded requests. */
  reset(): void;
  close(): Promise<void>;
}

export async function startHttpTestServer(): Promise<HttpTestServer> {
  const routes = new Map<string, (ScriptedAnswer | RouteHandler)[]>();
  const requests: RecordedRequest[] = [];
  let fallbackHandler: RouteHandler | undefined;

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const bodyBytes = Buffer.concat(chunks);
        const rawBody = bodyBytes.toString('utf8');
        const recorded: RecordedRequest = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          rawBody,
          bodyBytes,
          body: tryJson(rawBody),
        };
        requests.push(recorded);
        const script = routes.get(`${recorded.method} ${recorded.path}`);
        const next = script && (script.length > 1 ? script.shift() : script[0]);
        const answer: ScriptedAnswer =
          next === undefined
            ? fallbackHandler
              ? await fallbackHandler(recorded)
              : { status: 404, body: { error: 'no route', code: 'test.noRoute' } }
            : typeof next === 'function'
              ? await next(recorded)
              : next;
        if (answer.destroy) {
          req.socket.destroy();
          return;
        }
        if (answer.respond) {
          answer.respond(res);
          return;
        }
        const payload =
          answer.raw ?? Buffer.from(answer.body === undefined ? '' : JSON.stringify(answer.body));
        res.writeHead(answer.status, {
          'Content-Type': answer.raw ? 'application/octet-stream' : 'application/json',
          'Content-Length': String(payload.length),
          ...answer.headers,
        });
        res.end(payload);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    route(method, path, ...answers) {
      routes.set(`${method} ${path}`, answers);
    },
    fallback(handler) {
      fallbackHandler = handler;
    },
    count(method, path) {
      return requests.filter((r) => r.method === method && r.path === path).length;
    },
    reset() {
      routes.clear();
      fallbackHandler = undefined;
      requests.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

function tryJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
