import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Https from 'node:https';

/**
 * `request` of node:http and node:https, loaded with `require` rather than `import`.
 *
 * On Node 22.5 and later (the image runs Node 24), importing node:http as an ES module reads every
 * one of its exports, among them the lazy `WebSocket`, `CloseEvent` and `MessageEvent`, and that
 * loads Node's bundled undici: about 13 MB of resident memory for classes the job never uses
 * (docs/performance.md, Memory). `require` reads nothing but what is used.
 * `test/process/startup-footprint.test.ts` keeps it that way.
 */
const load = createRequire(import.meta.url);

export const httpRequest: typeof Http.request = (load('node:http') as typeof Http).request;
export const httpsRequest: typeof Https.request = (load('node:https') as typeof Https).request;
