import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/api-error.js';
import {
  parseBooleanParam,
  parseColumnsParam,
  parseFormBody,
  parsePaging,
  parsePrimaryKeyString,
  parseUnixTimestampParam,
  requireInt,
} from '../../../src/params.js';

describe('request parameters', () => {
  it.each([
    [true, true],
    ['true', true],
    [1, true],
    ['1', true],
    [false, false],
    ['0', false],
    [0, false],
    ['false', false],
  ])('boolean %j → %j', (value, expected) => {
    expect(parseBooleanParam(value, !expected)).toBe(expected);
  });

  it('falls back for absent booleans', () => {
    expect(parseBooleanParam(undefined, true)).toBe(true);
  });

  it('accepts only unix timestamps for changedSince/changedUntil', () => {
    expect(parseUnixTimestampParam('changedSince', 1700000000)).toBe(1700000000);
    expect(parseUnixTimestampParam('changedSince', '1700000000')).toBe(1700000000);
    expect(parseUnixTimestampParam('changedSince', undefined)).toBeUndefined();
    expect(parseUnixTimestampParam('changedSince', '')).toBeUndefined();
    for (const bad of ['-1 day', '2024-01-01', 1.5, -3, true]) {
      expect(() => parseUnixTimestampParam('changedUntil', bad)).toThrow(
        'Invalid "changedUntil" parameter',
      );
    }
  });

  it('parses column lists from strings and arrays', () => {
    expect(parseColumnsParam('b, a')).toEqual(['b', 'a']);
    expect(parseColumnsParam(['x', 'y'])).toEqual(['x', 'y']);
    expect(parseColumnsParam('')).toBeUndefined();
  });

  it('requires the primary key as a comma string', () => {
    expect(parsePrimaryKeyString('a,b')).toEqual(['a', 'b']);
    expect(parsePrimaryKeyString(undefined)).toEqual([]);
    try {
      parsePrimaryKeyString(['a']);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).code).toBe('storage.validation.primaryKey');
    }
  });

  it('requires positive integer ids', () => {
    expect(requireInt({ id: '12' }, 'id')).toBe(12);
    expect(() => requireInt({ id: 'x' }, 'id')).toThrow(ApiError);
  });

  it('bounds paging', () => {
    expect(parsePaging(new URLSearchParams('limit=5&offset=2'), 100)).toEqual({
      limit: 5,
      offset: 2,
    });
    expect(parsePaging(new URLSearchParams('limit=-1'), 100)).toEqual({ limit: 100, offset: 0 });
  });

  it('decodes form bodies with arrays and nested keys', () => {
    expect(
      parseFormBody('name=t&incremental=1&columns[]=a&columns[]=b&m[0][key]=k&m[0][value]=v'),
    ).toEqual({
      name: 't',
      incremental: '1',
      columns: ['a', 'b'],
      m: [{ key: 'k', value: 'v' }],
    });
  });
});
