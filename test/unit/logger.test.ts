import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { gelfLevel } from '../../src/log/gelf-output.js';
import { chooseLogTarget, createLogger, formatText } from '../../src/logger.js';
import { SecretMasker } from '../../src/secrets.js';

function capture(): Writable & { text: string } {
  const sink = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        sink.text += chunk.toString('utf8');
        callback();
      },
    }),
    { text: '' },
  );
  return sink;
}

describe('chooseLogTarget', () => {
  it.each([
    [{ KBC_LOGGER_ADDR: '10.0.0.1', KBC_LOGGER_PORT: '12202' }, false, undefined, 'gelf'],
    [{ KBC_LOGGER_ADDR: '10.0.0.1', KBC_LOGGER_PORT: '12202' }, false, 'json' as const, 'gelf'],
    [{ KBC_LOGGER_ADDR: '10.0.0.1', KBC_LOGGER_PORT: 'x' }, false, undefined, 'json'],
    [{ KBC_RUNID: '1.2' }, false, undefined, 'text'],
    [{ KBC_RUNID: '1.2' }, false, 'json' as const, 'json'],
    [{ KBC_RUNID: '', KBC_COMPONENTID: 'keboola.ex-table-sync' }, false, undefined, 'text'],
    [{}, true, undefined, 'text'],
    [{}, false, undefined, 'json'],
    [{}, true, 'json' as const, 'json'],
    [{}, false, 'text' as const, 'text'],
  ])('%j, tty %s, --log-format %s → %s', (env, stdoutIsTty, requested, kind) => {
    expect(chooseLogTarget({ env, stdoutIsTty, requested }).kind).toBe(kind);
  });
});

describe('text lines', () => {
  it('prefix warnings and errors and leave structured fields out', () => {
    expect(formatText({ level: 'info', msg: 'hello', table: 'x' })).toBe('hello\n');
    expect(formatText({ level: 'warn', msg: 'careful' })).toBe('Warning: careful\n');
    expect(formatText({ level: 'error', msg: 'broken' })).toBe('Error: broken\n');
  });

  it('end a request’s debug line with its duration, as docs/limits.md promises', async () => {
    const out = capture();
    const { logger, flush } = createLogger({
      level: 'debug',
      masker: new SecretMasker(),
      target: { kind: 'text' },
      out,
    });
    const fields = { method: 'GET', path: '/v2/storage/tokens/verify', status: 200 };
    logger.debug({ ...fields, durationMs: 12 }, 'GET /v2/storage/tokens/verify → 200');
    await flush();
    expect(out.text).toBe('GET /v2/storage/tokens/verify → 200 in 12 ms\n');
  });

  it('mask secrets and write nothing anywhere but the given stream', async () => {
    const masker = new SecretMasker();
    masker.add('super-secret-token-value');
    const out = capture();
    const { logger, flush } = createLogger({
      level: 'info',
      masker,
      target: { kind: 'text' },
      out,
    });
    logger.warn({ token: 'super-secret-token-value' }, 'token super-secret-token-value expires');
    logger.info('plain');
    await flush();
    expect(out.text).toBe('Warning: token [hidden] expires\nplain\n');
  });
});

describe('GELF levels', () => {
  it('map pino levels to syslog severities', () => {
    expect([10, 20, 30, 40, 50, 60].map(gelfLevel)).toEqual([7, 7, 6, 4, 3, 2]);
  });

  it('fall back to text lines when the log server does not answer', async () => {
    const out = capture();
    const { logger, flush } = createLogger({
      level: 'info',
      masker: new SecretMasker(),
      target: { kind: 'gelf', address: { host: '127.0.0.1', port: 1 } },
      out,
    });
    logger.warn('kept');
    await flush();
    expect(out.text).toBe('Warning: kept\n');
  });
});
