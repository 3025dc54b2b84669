import { describe, expect, it } from 'vitest';
import { formatCsvLine, sanitizeColumnName } from '../../../src/csv-format.js';
import {
  datePath,
  fileLocation,
  locationFromEntryUrl,
  manifestEntryUrl,
} from '../../../src/file-locations.js';
import {
  formatIsoWithColon,
  formatOptionalTimestamp,
  formatPhpTimestamp,
  phpMap,
} from '../../../src/php-format.js';

describe('PHP serialization quirks', () => {
  it('formats timestamps with a colon-less UTC offset and whole seconds', () => {
    expect(formatPhpTimestamp(Date.UTC(2024, 1, 13, 12, 56, 57, 999))).toBe(
      '2024-02-13T12:56:57+0000',
    );
    expect(formatIsoWithColon(Date.UTC(2024, 1, 14, 21, 34, 46))).toBe('2024-02-14T21:34:46+00:00');
    expect(formatOptionalTimestamp(undefined)).toBeNull();
  });

  it('renders an empty map as [] and keeps others', () => {
    expect(phpMap({})).toEqual([]);
    expect(phpMap({ a: 1 })).toEqual({ a: 1 });
  });
});

describe('CSV export lines', () => {
  it.each([
    [['1', 'a'], '"1","a"\n'],
    [['x"y', 'a,b'], '"x""y","a,b"\n'],
    [['', null], '"",""\n'],
    [['line\nbreak'], '"line\nbreak"\n'],
  ])('quotes every value of %j', (values, line) => {
    expect(formatCsvLine(values)).toBe(line);
  });

  it('sanitizes header names like Storage', () => {
    expect(sanitizeColumnName(' first name ')).toBe('first_name');
    expect(sanitizeColumnName('e-mail')).toBe('e_mail');
  });
});

describe('file locations and manifest URLs', () => {
  it.each([
    [
      'aws',
      { bucket: 'kbc-sapi-files', key: 'exp-15/7/a/b.csv.gz' },
      's3://kbc-sapi-files/exp-15/7/a/b.csv.gz',
    ],
    [
      'gcp',
      { bucket: 'kbc-sapi-files-gcs', key: 'exp-15/7/a/b.csv.gz' },
      'gs://kbc-sapi-files-gcs/exp-15/7/a/b.csv.gz',
    ],
    [
      'azure',
      { bucket: 'exp-15-files-7', key: 'a/b.csv.gz' },
      'azure://kbcemulator.blob.core.windows.net/exp-15-files-7/a/b.csv.gz',
    ],
  ] as const)('%s: location, entry URL and back', (provider, loc, url) => {
    expect(fileLocation(provider, 7, 'a/b.csv.gz')).toEqual(loc);
    expect(manifestEntryUrl(provider, loc)).toBe(url);
    expect(locationFromEntryUrl(url)).toEqual(loc);
  });

  it('parses https Azure URLs, also the emulator form', () => {
    expect(locationFromEntryUrl('https://acc.blob.core.windows.net/c/x/y.gz')).toEqual({
      bucket: 'c',
      key: 'x/y.gz',
    });
    expect(locationFromEntryUrl('http://127.0.0.1:1/azure/acc/c/x.gz')).toEqual({
      bucket: 'c',
      key: 'x.gz',
    });
    expect(locationFromEntryUrl('nonsense')).toBeUndefined();
  });

  it('builds date paths in UTC', () => {
    expect(datePath(Date.UTC(2024, 1, 4, 23, 59))).toBe('2024/02/04');
  });
});
