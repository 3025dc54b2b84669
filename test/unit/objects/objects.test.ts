import { describe, expect, it } from 'vitest';
import { azureBlobUrl, parseSasConnectionString } from '../../../src/objects/azure.js';
import { endpointsFromEnv } from '../../../src/objects/endpoints.js';
import { UserError } from '../../../src/errors.js';
import { StorageResponseError } from '../../../src/storage/parse.js';
import { gcsBaseUrl, gcsDownloadUrl, gcsUploadUrl } from '../../../src/objects/gcs.js';
import {
  accountOfEndpoint,
  entryUrlOf,
  ManifestError,
  manifestBody,
  parseManifest,
  sliceNameOf,
  sliceNamesOf,
  type FileLocation,
} from '../../../src/objects/manifest.js';
import { storeErrorCode } from '../../../src/objects/object-http.js';
import {
  encodeS3Key,
  isS3CredentialFailure,
  s3ObjectUrl,
  signS3,
} from '../../../src/objects/s3.js';

const s3: FileLocation = {
  provider: 'aws',
  bucket: 'kbc-sapi-files',
  key: 'exp-15/578/t/236504176.csv.gz',
};
const gcs: FileLocation = { provider: 'gcp', bucket: 'kbc-files', key: 'exp-15/1/t/851783.csv.gz' };
const abs: FileLocation = {
  provider: 'azure',
  bucket: 'exp-15-files-4516',
  key: 'table-exports/in/c-crm/customers/236504176.csv.gz',
  accountName: 'kbcfsxyz',
};

describe('slice names from manifest entries', () => {
  it.each<[string, FileLocation, string, string]>([
    ['s3', s3, `s3://kbc-sapi-files/${s3.key}0000_part_00.gz`, '0000_part_00.gz'],
    ['gcs', gcs, `gs://kbc-files/${gcs.key}0001_part_00.gz`, '0001_part_00.gz'],
    [
      'abs azure://',
      abs,
      `azure://kbcfsxyz.blob.core.windows.net/exp-15-files-4516/${abs.key}0002_part_00.gz`,
      '0002_part_00.gz',
    ],
    [
      'abs https://',
      abs,
      `https://kbcfsxyz.blob.core.windows.net/exp-15-files-4516/${abs.key}0003.gz`,
      '0003.gz',
    ],
    [
      'abs emulator path style',
      abs,
      `http://127.0.0.1:10000/devstoreaccount1/exp-15-files-4516/${abs.key}0004.gz`,
      '0004.gz',
    ],
  ])('%s', (_name, location, url, expected) => {
    expect(sliceNameOf(url, location, 1)).toBe(expected);
  });

  it.each<[string, FileLocation, string]>([
    ['other bucket', s3, `s3://other/${s3.key}0000.gz`],
    ['other key', s3, 's3://kbc-sapi-files/exp-15/578/t/999.csv.gz0000.gz'],
    ['wrong scheme', s3, `gs://kbc-sapi-files/${s3.key}0000.gz`],
    ['the prefix itself', gcs, `gs://kbc-files/${gcs.key}`],
    ['other container', abs, `azure://kbcfsxyz.blob.core.windows.net/other/${abs.key}0000.gz`],
  ])('rejects %s', (_name, location, url) => {
    expect(() => sliceNameOf(url, location, 7)).toThrow(ManifestError);
    expect(() => sliceNameOf(url, location, 7)).toThrow(/outside the file's prefix/);
  });

  it.each<[string, FileLocation, string]>([
    ['a signed query', s3, `s3://kbc-sapi-files/${s3.key}0000.gz?X-Amz-Signature=sig0123456789`],
    ['a fragment', gcs, `gs://kbc-files/${gcs.key}0000.gz#sig0123456789`],
    [
      'an Azure fragment',
      abs,
      `azure://kbcfsxyz.blob.core.windows.net/exp-15-files-4516/${abs.key}0.gz#sig0123456789`,
    ],
  ])('rejects an entry with %s, without showing it', (_name, location, url) => {
    expect(() => sliceNameOf(url, location, 7)).toThrow(/has a query or fragment/);
    expect(() => sliceNameOf(url, location, 7)).not.toThrow(/sig0123456789/);
  });

  it.each<[string, FileLocation, string]>([
    ['a ".." segment leaving the prefix', s3, `s3://kbc-sapi-files/${s3.key}x/../../../other/t.gz`],
    ['a ".." segment naming a slice again', s3, `s3://kbc-sapi-files/${s3.key}0000.gz/../t.gz`],
    ['a "." segment', gcs, `gs://kbc-files/${gcs.key}0000/./0001.gz`],
    ['a percent-encoded ".." segment', s3, `s3://kbc-sapi-files/${s3.key}x/%2E%2e/y.gz`],
    [
      'an Azure ".." segment',
      abs,
      `azure://kbcfsxyz.blob.core.windows.net/exp-15-files-4516/${abs.key}0.gz/../1.gz`,
    ],
  ])('rejects an entry with %s', (_name, location, url) => {
    expect(() => sliceNameOf(url, location, 7)).toThrow(/has a "\." or "\.\." path segment/);
  });

  it('rejects a slice listed twice', () => {
    const url = `s3://kbc-sapi-files/${s3.key}0000.gz`;
    expect(() => sliceNamesOf([{ url }, { url: `${url}1` }, { url }], s3, 7)).toThrow(
      'The manifest of file 7 lists the slice "0000.gz" twice; refusing to copy its rows twice',
    );
    expect(sliceNamesOf([{ url }, { url: `${url}1` }], s3, 7)).toEqual(['0000.gz', '0000.gz1']);
  });
});

describe('manifest', () => {
  it('parses entries and accepts zero entries', () => {
    expect(
      parseManifest('{"entries":[{"url":"s3://b/k0","mandatory":true},{"url":"s3://b/k1"}]}', 1),
    ).toEqual([{ url: 's3://b/k0', mandatory: true }, { url: 's3://b/k1' }]);
    expect(parseManifest('{"entries":[]}', 1)).toEqual([]);
  });
  it.each([['not json'], ['{"entries":[{"nourl":1}]}'], ['[]']])('rejects %s', (text) => {
    expect(() => parseManifest(text, 1)).toThrow(ManifestError);
  });
  it('writes entries in the provider scheme, mandatory', () => {
    expect(JSON.parse(manifestBody(abs, ['a.gz']).toString())).toEqual({
      entries: [
        {
          url: `azure://kbcfsxyz.blob.core.windows.net/exp-15-files-4516/${abs.key}a.gz`,
          mandatory: true,
        },
      ],
    });
    expect(entryUrlOf(s3, 'x')).toBe(`s3://kbc-sapi-files/${s3.key}x`);
    expect(entryUrlOf(gcs, 'x')).toBe(`gs://kbc-files/${gcs.key}x`);
  });
});

describe('Azure', () => {
  it('parses a SAS connection string', () => {
    const parsed = parseSasConnectionString(
      'BlobEndpoint=https://kbcfsxyz.blob.core.windows.net;SharedAccessSignature=sv=2017-11-09&sr=c&se=2024-11-10T05%3A55%3A44Z&sp=rl&sig=abc%2Bdef%3D',
    );
    expect(parsed).toEqual({
      blobEndpoint: 'https://kbcfsxyz.blob.core.windows.net',
      sas: 'sv=2017-11-09&sr=c&se=2024-11-10T05%3A55%3A44Z&sp=rl&sig=abc%2Bdef%3D',
    });
  });
  it('accepts either order and a leading ?', () => {
    expect(
      parseSasConnectionString(
        'SharedAccessSignature=?sv=1&sig=x;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/',
      ),
    ).toEqual({
      blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
      sas: 'sv=1&sig=x',
    });
  });
  it.each([
    ['a SAS', 'BlobEndpoint=https://a.blob.core.windows.net'],
    ['a BlobEndpoint', 'SharedAccessSignature=sv=1&sig=secret-sig-000'],
  ])('rejects a connection string without %s: the service’s answer, exit 2', (_what, text) => {
    const parse = () => parseSasConnectionString(text);
    expect(parse).toThrow(StorageResponseError);
    expect(parse).toThrow(
      'The Azure SAS connection string Storage sent lacks BlobEndpoint or SharedAccessSignature.',
    );
  });
  it('builds blob URLs', () => {
    expect(
      azureBlobUrl(
        { blobEndpoint: 'https://a.blob.core.windows.net', sas: 'sv=1&sig=x' },
        'c',
        'dir/my file.gz',
      ),
    ).toBe('https://a.blob.core.windows.net/c/dir/my%20file.gz?sv=1&sig=x');
  });
  it.each([
    ['https://kbcfsxyz.blob.core.windows.net', 'kbcfsxyz'],
    ['http://127.0.0.1:10000/devstoreaccount1', 'devstoreaccount1'],
    ['http://127.0.0.1:10000', undefined],
  ])('account of %s', (endpoint, expected) => {
    expect(accountOfEndpoint(endpoint)).toBe(expected);
  });
});

describe('S3', () => {
  it('builds virtual-hosted and path-style URLs', () => {
    expect(s3ObjectUrl('b', 'exp-15/a b+c.gz', 'eu-central-1')).toBe(
      'https://b.s3.eu-central-1.amazonaws.com/exp-15/a%20b%2Bc.gz',
    );
    expect(s3ObjectUrl('b', 'k/x.gz', 'eu-central-1', 'http://127.0.0.1:9000/')).toBe(
      'http://127.0.0.1:9000/b/k/x.gz',
    );
    expect(encodeS3Key("a/b(1)!*'.gz")).toBe('a/b%281%29%21%2A%27.gz');
  });
  it('signs with the session token and an unsigned payload', () => {
    const headers = signS3(
      'PUT',
      'https://b.s3.us-east-1.amazonaws.com/k',
      { 'Content-Length': '3' },
      'us-east-1',
      {
        AccessKeyId: 'ASIAEXAMPLE',
        SecretAccessKey: 'secret',
        SessionToken: 'session',
        Expiration: '',
      },
    );
    expect(headers['X-Amz-Security-Token']).toBe('session');
    expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(headers['Authorization']).toMatch(
      /^AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE\/\d{8}\/us-east-1\/s3\/aws4_request/,
    );
  });
  it.each<[number, string | undefined, boolean]>([
    [400, 'ExpiredToken', true],
    [403, 'AccessDenied', true],
    [403, undefined, true],
    [403, 'SignatureDoesNotMatch', false],
    [404, 'NoSuchKey', false],
  ])('credential failure %i %s → %s', (status, code, expected) => {
    expect(isS3CredentialFailure(status, code)).toBe(expected);
  });
});

describe('GCS', () => {
  it('builds JSON API URLs', () => {
    expect(gcsBaseUrl(undefined)).toBe('https://storage.googleapis.com');
    expect(gcsBaseUrl('localhost:4443')).toBe('http://localhost:4443');
    expect(gcsBaseUrl('https://gcs.local/')).toBe('https://gcs.local');
    expect(gcsDownloadUrl('https://storage.googleapis.com', 'b', 'exp/1.csv.gz0000')).toBe(
      'https://storage.googleapis.com/storage/v1/b/b/o/exp%2F1.csv.gz0000?alt=media',
    );
    expect(gcsUploadUrl('http://localhost:4443', 'b', 'exp/1.gz')).toBe(
      'http://localhost:4443/upload/storage/v1/b/b/o?uploadType=media&name=exp%2F1.gz',
    );
  });
});

describe('environment overrides', () => {
  it.each<[Record<string, string>, object]>([
    [{}, {}],
    [{ AWS_ENDPOINT_URL: 'http://a:1' }, { s3: 'http://a:1' }],
    [
      { AWS_ENDPOINT_URL: 'http://a:1', AWS_ENDPOINT_URL_S3: 'http://s3:2/' },
      { s3: 'http://s3:2' },
    ],
    [{ STORAGE_EMULATOR_HOST: 'localhost:4443' }, { gcs: 'http://localhost:4443' }],
    [{ STORAGE_EMULATOR_HOST: 'https://g:1' }, { gcs: 'https://g:1' }],
    [{ AWS_ENDPOINT_URL_S3: ' ' }, {}],
  ])('%j', (env, expected) => {
    expect(endpointsFromEnv(env)).toEqual(expected);
  });

  it.each<[Record<string, string>, string]>([
    [{ AWS_ENDPOINT_URL_S3: 'not a url' }, 'AWS_ENDPOINT_URL_S3'],
    [{ AWS_ENDPOINT_URL: 'ftp://a:1' }, 'AWS_ENDPOINT_URL'],
    [
      { AWS_ENDPOINT_URL: 'http://a:1', AWS_ENDPOINT_URL_S3: 'http://a:1/?sig=1' },
      'AWS_ENDPOINT_URL_S3',
    ],
    [{ STORAGE_EMULATOR_HOST: 'not a url' }, 'STORAGE_EMULATOR_HOST'],
    [{ STORAGE_EMULATOR_HOST: 'http://g:1#x' }, 'STORAGE_EMULATOR_HOST'],
  ])('%j is a user error naming %s, not its value', (env, name) => {
    const read = () => endpointsFromEnv(env);
    expect(read).toThrow(UserError);
    expect(read).toThrow(
      new RegExp(`^The environment variable ${name} is not an http\\(s\\) base URL`),
    );
    expect(read).not.toThrow(/not a url|sig=|ftp:/);
  });
});

describe('store error codes', () => {
  it.each([
    [
      '<?xml version="1.0"?><Error><Code>ExpiredToken</Code><Message>x</Message></Error>',
      'ExpiredToken',
    ],
    ['{"error":{"code":401,"message":"Invalid Credentials"}}', '401'],
    ['{"error":{"status":"UNAUTHENTICATED"}}', 'UNAUTHENTICATED'],
    ['plain', undefined],
  ])('%s', (text, expected) => {
    expect(storeErrorCode(text)).toBe(expected);
  });
});
