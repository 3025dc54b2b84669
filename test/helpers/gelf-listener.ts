import { createServer, type AddressInfo } from 'node:net';

/** A GELF-over-TCP server on 127.0.0.1:0 that keeps every null-terminated frame it receives. */
export interface GelfListener {
  readonly port: number;
  readonly frames: string[];
  /** Waits (bounded: 5 s) until a frame contains `text`. */
  waitFor(text: string): Promise<void>;
  close(): Promise<void>;
}

export async function startGelfListener(): Promise<GelfListener> {
  const frames: string[] = [];
  const server = createServer((socket) => {
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const parts = (pending + chunk).split('\0');
      pending = parts.pop() ?? '';
      frames.push(...parts);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    frames,
    async waitFor(text) {
      for (let i = 0; i < 100 && !frames.some((frame) => frame.includes(text)); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
