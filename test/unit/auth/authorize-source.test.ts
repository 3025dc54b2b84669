import { describe, expect, it } from 'vitest';
import { configuredRegionOf } from '../../../src/auth/authorize-source.js';

describe('configuredRegionOf', () => {
  it('takes region when given, else the region whose multi-tenant stack url is', () => {
    const url = 'https://connection.eu-central-1.keboola.com';
    expect(configuredRegionOf({ region: 'us-east-1', url })).toBe('us-east-1');
    expect(configuredRegionOf({ url })).toBe('eu-central-1');
    expect(configuredRegionOf({ url: 'https://connection.keboola.com/' })).toBe('us-east-1');
  });

  it('is undefined for a single-tenant stack or an emulator: nothing to compare', () => {
    expect(configuredRegionOf({ url: 'https://connection.acme.keboola.cloud' })).toBeUndefined();
    expect(configuredRegionOf({ url: 'http://127.0.0.1:8080' })).toBeUndefined();
  });
});
