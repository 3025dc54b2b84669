import { describe, expect, it } from 'vitest';
import { parseObjectRoute } from '../../../src/objects/routes.js';

function route(url: string, authorization?: string): ReturnType<typeof parseObjectRoute> {
  const q = url.indexOf('?');
  return parseObjectRoute(
    q < 0 ? url : url.slice(0, q),
    new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
    authorization,
  );
}

describe('parseObjectRoute', () => {
  it.each([
    ['/', undefined],
    ['/v2/storage/tokens/verify', undefined],
    ['/_emulator/faults', undefined],
  ])('leaves %s to the server', (url, expected) => {
    expect(route(url)).toBe(expected);
  });

  it.each([
    ['/kbc-files/exp-15/a%20b.csv', { api: 's3', bucket: 'kbc-files', key: 'exp-15/a b.csv' }],
    ['/kbc-files', { api: 's3', bucket: 'kbc-files', key: '' }],
    ['/kbc-files/a+b%2Bc', { api: 's3', bucket: 'kbc-files', key: 'a b+c' }],
    ['/b/a+b?X-Goog-Signature=ab', { api: 'gcs-xml', bucket: 'b', key: 'a+b' }],
    ['/b/k?X-Goog-Signature=ab', { api: 'gcs-xml', bucket: 'b', key: 'k' }],
    [
      '/azure/acct/cont/dir/blob.gz?sv=1',
      { api: 'azure', account: 'acct', bucket: 'cont', key: 'dir/blob.gz' },
    ],
    [
      '/storage/v1/b/bkt/o/dir%2Fobj.gz?alt=media',
      { api: 'gcs-json', bucket: 'bkt', key: 'dir/obj.gz', media: true },
    ],
    ['/storage/v1/b/bkt/o/obj', { api: 'gcs-json', bucket: 'bkt', key: 'obj', media: false }],
    [
      '/upload/storage/v1/b/bkt/o?uploadType=media&name=dir%2Fx.gz',
      {
        api: 'gcs-upload',
        bucket: 'bkt',
        key: 'dir/x.gz',
        uploadType: 'media',
        uploadId: undefined,
      },
    ],
    [
      '/upload/storage/v1/b/bkt/o?uploadType=resumable&name=x&upload_id=abc',
      { api: 'gcs-upload', bucket: 'bkt', key: 'x', uploadType: 'resumable', uploadId: 'abc' },
    ],
    [
      '/download/storage/v1/b/bkt/o/dir%2Fx.gz?alt=media',
      { api: 'gcs-json', bucket: 'bkt', key: 'dir/x.gz', media: true },
    ],
  ])('routes %s', (url, expected) => {
    expect(route(url)).toEqual(expected);
  });

  it('treats a bearer token at the root as the GCS XML API', () => {
    expect(route('/b/k', 'Bearer ya29.x')).toEqual({ api: 'gcs-xml', bucket: 'b', key: 'k' });
  });

  it.each(['/azure/acct', '/storage/v1/b/bkt/x/obj', '/upload/storage/v1/b/bkt/o', '/b/%zz'])(
    'marks %s as invalid',
    (url) => {
      expect(route(url)).toMatchObject({ api: 'invalid' });
    },
  );
});
