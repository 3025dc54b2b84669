import { describe, expect, it } from 'vitest';
import { contentRange, parseByteRange } from '../../../src/objects/ranges.js';
import { parseUploadRange } from '../../../src/objects/gcs-resumable.js';
import { multipartOperation, parseCompleteBody } from '../../../src/objects/s3-multipart.js';

describe('parseByteRange', () => {
  it.each([
    [undefined, 10, { kind: 'full' }],
    ['bytes=0-3', 10, { kind: 'partial', start: 0, end: 3 }],
    ['bytes=4-', 10, { kind: 'partial', start: 4, end: 9 }],
    ['bytes=5-99', 10, { kind: 'partial', start: 5, end: 9 }],
    ['bytes=-3', 10, { kind: 'partial', start: 7, end: 9 }],
    ['bytes=-30', 10, { kind: 'partial', start: 0, end: 9 }],
    ['bytes=10-', 10, { kind: 'unsatisfiable' }],
    ['bytes=-0', 10, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=0-1,4-5', 10, { kind: 'full' }],
    ['items=0-1', 10, { kind: 'full' }],
    ['bytes=5-2', 10, { kind: 'full' }],
  ] as const)('%s of %d bytes', (header, size, expected) => {
    expect(parseByteRange(header, size)).toEqual(expected);
  });

  it('names the range, or the size of a 416', () => {
    expect(contentRange({ kind: 'partial', start: 2, end: 5 }, 10)).toBe('bytes 2-5/10');
    expect(contentRange({ kind: 'unsatisfiable' }, 10)).toBe('bytes */10');
  });
});

describe('parseUploadRange (GCS resumable)', () => {
  it.each([
    ['bytes 0-99/200', { kind: 'chunk', first: 0, last: 99, totalBytes: 200 }],
    ['bytes 100-*/*', { kind: 'chunk', first: 100, last: undefined, totalBytes: undefined }],
    ['bytes */200', { kind: 'status', totalBytes: 200 }],
    ['bytes */*', { kind: 'status', totalBytes: undefined }],
    ['nonsense', undefined],
  ] as const)('%s', (header, expected) => {
    expect(parseUploadRange(header)).toEqual(expected);
  });
});

describe('S3 multipart (pure parts)', () => {
  it('tells the operations apart', () => {
    const q = (text: string) => new URLSearchParams(text);
    expect(multipartOperation('POST', q('uploads'))).toEqual({ op: 'create' });
    expect(multipartOperation('PUT', q('partNumber=2&uploadId=u'))).toEqual({
      op: 'part',
      uploadId: 'u',
      partNumber: 2,
    });
    expect(multipartOperation('POST', q('uploadId=u'))).toEqual({ op: 'complete', uploadId: 'u' });
    expect(multipartOperation('DELETE', q('uploadId=u'))).toEqual({ op: 'abort', uploadId: 'u' });
    expect(multipartOperation('PUT', q('partNumber=0&uploadId=u'))).toMatchObject({
      op: 'invalid',
    });
    expect(multipartOperation('PUT', q(''))).toBeUndefined();
  });

  it('reads a CompleteMultipartUpload body', () => {
    const xml =
      '<CompleteMultipartUpload><Part><ETag>"a1"</ETag><PartNumber>1</PartNumber></Part>' +
      '<Part><PartNumber>2</PartNumber><ETag>&quot;b2&quot;</ETag></Part></CompleteMultipartUpload>';
    expect(parseCompleteBody(xml)).toEqual([
      { partNumber: 1, etag: '"a1"' },
      { partNumber: 2, etag: '"b2"' },
    ]);
    expect(parseCompleteBody('<Other/>')).toBeUndefined();
  });
});
