// Builds the job: src/main.ts and every production dependency into one ES module, dist/main.js
// (the `bin`, the image's ENTRYPOINT and what the process tests and the benchmark run).
//
// Why one file: Node resolves, reads and wraps every module file on its own, and the job's
// dependencies are a few hundred files. Loading them as one bundle saves about 12 MB of resident
// memory and about 0.13 CPU s per start (docs/performance.md, Memory). Types are checked by
// `npm run typecheck`; this step only strips them. esbuild-wasm rather than esbuild: it needs no
// platform binary, so the image's build stage works with `--omit=optional --ignore-scripts`.
//
// gelf-pro (with its lodash) goes into a second file, dist/gelf-pro.cjs, which src/log/gelf-output.ts
// requires only when GELF logging is configured: most runs never load it. So dist/ needs no
// node_modules at all, and the image ships none.
import { readFile, rm } from 'node:fs/promises';
import process from 'node:process';
import { URL } from 'node:url';
import { build } from 'esbuild-wasm';

const root = new URL('..', import.meta.url);
// The version goes into the bundle (src/version.ts): dist/main.js cannot find package.json by a
// path written for the source tree.
const { version } = JSON.parse(await readFile(new URL('package.json', root), 'utf8'));

await rm(new URL('dist', root), { recursive: true, force: true });
const result = await build({
  absWorkingDir: process.cwd(),
  entryPoints: [new URL('src/main.ts', root).pathname],
  outfile: new URL('dist/main.js', root).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  define: { KBC_TABLE_SYNC_VERSION: JSON.stringify(version) },
  // jsonc-parser's `main` is a UMD build that requires its parts at run time, which a bundle
  // cannot resolve ("Cannot find module './impl/format'"); its ES module build bundles whole.
  alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
  // CommonJS dependencies call `require`; an ES module has none, so give it Node's.
  banner: {
    js: "import { createRequire as kbcCreateRequire } from 'node:module'; const require = kbcCreateRequire(import.meta.url);",
  },
  legalComments: 'none',
  // Whitespace and comments out, names kept (stack traces still name functions). V8 holds the
  // source text for as long as the process runs, and the comments' few non-ASCII characters made
  // it hold all of it as UTF-16: 1.9 MB instead of 0.7 (docs/performance.md, Memory).
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
// gelf-pro's own `require('./adapter/' + name)` is never reached: the job sets the TCP adapter
// itself (src/log/gelf-output.ts), so esbuild's warning about that one call is silenced.
const gelf = await build({
  absWorkingDir: process.cwd(),
  stdin: {
    contents:
      "module.exports = { gelf: require('gelf-pro'), tcpAdapter: require('gelf-pro/lib/adapter/tcp.js') };",
    resolveDir: new URL('.', root).pathname,
    loader: 'js',
  },
  outfile: new URL('dist/gelf-pro.cjs', root).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20.19',
  legalComments: 'none',
  logLevel: 'warning',
  logOverride: { 'unsupported-require-call': 'silent' },
});
const problems = [result, gelf].some((r) => r.errors.length > 0 || r.warnings.length > 0);
if (problems) process.exitCode = 1;
