/**
 * The error policy (docs/architecture.md, Errors): exit 1 only for what a call site recognised as
 * the user's fault, with its sentence; exit 2 for everything else, an unexpected 4xx included.
 */
import { describe, expect, it } from 'vitest';
import { explainRejectedToken } from '../../src/auth/check-token.js';
import {
  ConfigError,
  DeadlineError,
  InterruptedError,
  JobFailedError,
  StorageApiError,
  TokenRevokedError,
  UserError,
  exitCodeFor,
} from '../../src/errors.js';
import { explainRejectedImport } from '../../src/output/project-writer.js';
import { ObjectStoreError } from '../../src/objects/errors.js';
import { explainMissingTable } from '../../src/plan/plan-tables.js';
import { SecretMasker } from '../../src/secrets.js';

function apiError(method: string, path: string, status: number, code?: string): StorageApiError {
  return new StorageApiError(
    `Storage API ${method} ${path} answered ${status}: refused${code ? ` (${code})` : ''}`,
    { method, path, status, code },
  );
}

function jobError(code: string): JobFailedError {
  return new JobFailedError(
    `Storage job 7 (tableImport of in.c-copy.orders) failed: Columns do not match`,
    7,
    code,
  );
}

describe('exitCodeFor', () => {
  it.each([403, 429])(
    'is 1 for a %i wherever it comes: a permission or the rate limit is the user’s to act on',
    (status) => {
      const error = apiError(
        'POST',
        '/v2/storage/tables/in.c-src.t/export-async',
        status,
        'some.code',
      );
      expect(exitCodeFor(error)).toBe(1);
      expect(error.message).toContain('POST /v2/storage/tables/in.c-src.t/export-async');
    },
  );

  it.each([400, 401, 404, 409, 422])(
    'is 2 for a %i from a call that no site recognised, and the message names the request and code',
    (status) => {
      const error = apiError('GET', '/v2/storage/buckets/in.c-src/tables', status, 'some.code');
      expect(exitCodeFor(error)).toBe(2);
      expect(error.message).toContain('GET /v2/storage/buckets/in.c-src/tables');
      expect(error.message).toContain('some.code');
    },
  );

  it('is 2 for failed jobs, deadlines, interruptions and plain errors', () => {
    expect(exitCodeFor(jobError('csvImport.columnsNotMatch'))).toBe(2);
    expect(exitCodeFor(jobError('storage.importFailed'))).toBe(2);
    expect(exitCodeFor(new DeadlineError('job 1'))).toBe(2);
    expect(exitCodeFor(new InterruptedError('stopped'))).toBe(2);
    expect(exitCodeFor(new TypeError('bug'))).toBe(2);
    expect(exitCodeFor('a string')).toBe(2);
  });

  it('is 1 under Keboola’s runner for an outage (Storage or object-store 5xx, an object store unreachable), 2 outside it', () => {
    const runner = { underRunner: true };
    const outside = { underRunner: false };
    const storage = apiError('GET', '/v2/storage/tokens/verify', 503);
    const target = { provider: 'aws', bucket: 'bucket', key: 'key' } as const;
    const objects = new ObjectStoreError(
      'GET aws bucket/key answered 500',
      { ...target, status: 500 },
      { status: 500 },
      true,
    );
    const unanswered = (code: string) =>
      new ObjectStoreError(
        `GET aws bucket/key failed: ${code}`,
        target,
        { networkCode: code },
        true,
      );
    const outages = [
      storage,
      objects,
      ...['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'].map(unanswered),
    ];
    for (const outage of outages) {
      expect(exitCodeFor(outage, runner)).toBe(1);
      expect(exitCodeFor(outage, outside)).toBe(2);
      expect(exitCodeFor(outage)).toBe(2);
    }
    // Not outages: a 4xx no call site recognised, an object request the run's own stop aborted,
    // an object-store 4xx, a bug.
    const refused = new ObjectStoreError(
      'GET aws bucket/key answered 404 NoSuchKey',
      { ...target, status: 404 },
      { status: 404 },
      false,
    );
    for (const other of [
      apiError('GET', '/x', 404),
      unanswered('ABORTED'),
      refused,
      new TypeError('bug'),
    ]) {
      expect(exitCodeFor(other, runner)).toBe(2);
    }
  });

  it('is 1 for user errors: config, revoked token, and every explained call-site fault', () => {
    expect(exitCodeFor(new UserError('x'))).toBe(1);
    expect(exitCodeFor(new ConfigError(['parameters.tables: required']))).toBe(1);
    expect(exitCodeFor(new TokenRevokedError('revoked'))).toBe(1);
  });
});

describe('the call sites that know what a 4xx means', () => {
  const verify = (status: number, code?: string) =>
    apiError('GET', '/v2/storage/tokens/verify', status, code);

  it('the token check: 401 and 403 of tokens/verify are the user’s, with their sentences', () => {
    const revoked = explainRejectedToken(verify(401), 'source');
    expect(exitCodeFor(revoked)).toBe(1);
    expect((revoked as Error).message).toBe(
      'The source Storage API token is unknown, expired or revoked (tokens/verify answered 401): set a valid token in "#token".',
    );
    const expired = explainRejectedToken(verify(401, 'storage.tokenExpired'), 'destination');
    expect((expired as Error).message).toBe(
      'The destination Storage API token has expired (tokens/verify answered 401): set a valid token in "destination.#token".',
    );
    const refused = explainRejectedToken(verify(403), 'source');
    expect(exitCodeFor(refused)).toBe(1);
    expect((refused as Error).message).toBe(
      'The source Storage API token was refused (tokens/verify answered 403): set a valid token in "#token".',
    );
  });

  it('the token check: with the stack asked, a 401/403 names it and says to check the region or url', () => {
    const source = explainRejectedToken(verify(401), 'source', 'https://connection.keboola.com');
    expect(exitCodeFor(source)).toBe(1);
    expect((source as Error).message).toBe(
      'The source Storage API token is unknown, expired or revoked at https://connection.keboola.com (tokens/verify answered 401): set a valid token in "#token", or check "region"/"url" if the token belongs to another stack.',
    );
    const destination = explainRejectedToken(verify(403), 'destination', 'https://x.example');
    expect((destination as Error).message).toBe(
      'The destination Storage API token was refused at https://x.example (tokens/verify answered 403): set a valid token in "destination.#token", or check "destination.region"/"destination.url" if the token belongs to another stack.',
    );
  });

  it.each(['invalid', 'secret', 'test', 'token', 'testing', 'dummy', 'changeme', 'placeholder'])(
    'the token check: a placeholder #token %j leaves its sentences whole once masked',
    (placeholder) => {
      const masker = new SecretMasker();
      masker.add(placeholder);
      for (const [status, code] of [[401], [401, 'storage.tokenExpired'], [403], [404]] as const) {
        for (const url of [undefined, 'https://connection.keboola.com']) {
          const message = (explainRejectedToken(verify(status, code), 'source', url) as Error)
            .message;
          expect(masker.mask(message)).toBe(message);
        }
      }
    },
  );

  it('the token check: a 404 or 405 says the URL is not a Storage API (exit 1)', () => {
    for (const status of [404, 405]) {
      const explained = explainRejectedToken(verify(status), 'destination');
      expect(exitCodeFor(explained)).toBe(1);
      expect((explained as Error).message).toBe(
        `The destination URL does not answer as a Keboola Storage API (tokens/verify answered ${status}): check "destination.url" or "destination.region".`,
      );
    }
  });

  it('the token check leaves other answers alone (exit 2)', () => {
    for (const error of [verify(400), verify(409), verify(503), new TypeError('bug')]) {
      expect(explainRejectedToken(error, 'source')).toBe(error);
      expect(exitCodeFor(explainRejectedToken(error, 'source'))).toBe(2);
    }
  });

  it('the export of a planned table: a 404 names the table (exit 1); other answers stay 2', () => {
    const missing = explainMissingTable(
      apiError('POST', '/v2/storage/tables/in.c-src.orders/export-async', 404),
      'in.c-src.orders',
    );
    expect(exitCodeFor(missing)).toBe(1);
    expect((missing as Error).message).toMatch(/^The table "in\.c-src\.orders" was not found/);
    const other = apiError('POST', '/v2/storage/tables/in.c-src.orders/export-async', 400);
    expect(explainMissingTable(other, 'in.c-src.orders')).toBe(other);
  });

  it('the import check: csvImport.* is the user’s (exit 1), other job errors stay 2', () => {
    const refused = explainRejectedImport(
      jobError('csvImport.columnsNotMatch'),
      'in.c-copy.orders',
    );
    expect(exitCodeFor(refused)).toBe(1);
    expect((refused as Error).message).toMatch(
      /^The destination table "in\.c-copy\.orders" refused the import \(csvImport\.columnsNotMatch\)/,
    );
    const failed = jobError('storage.importFailed');
    expect(explainRejectedImport(failed, 'in.c-copy.orders')).toBe(failed);
    const api = apiError('POST', '/v2/storage/tables/in.c-copy.orders/import-async', 400);
    expect(explainRejectedImport(api, 'in.c-copy.orders')).toBe(api);
  });
});
