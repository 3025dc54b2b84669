import { describe, expect, it } from 'vitest';
import {
  REGIONS,
  regionChoices,
  regionForUrl,
  resolveRegion,
} from '../../../src/config/regions.js';

describe('regions', () => {
  it.each([
    ['us-east-1', 'us-east-1', 'https://connection.keboola.com'],
    ['us', 'us-east-1', 'https://connection.keboola.com'],
    ['eu-central-1', 'eu-central-1', 'https://connection.eu-central-1.keboola.com'],
    ['eu', 'eu-central-1', 'https://connection.eu-central-1.keboola.com'],
    ['north-europe', 'north-europe', 'https://connection.north-europe.azure.keboola.com'],
    ['azure-eu', 'north-europe', 'https://connection.north-europe.azure.keboola.com'],
    ['europe-west3', 'europe-west3', 'https://connection.europe-west3.gcp.keboola.com'],
    ['gcp-eu', 'europe-west3', 'https://connection.europe-west3.gcp.keboola.com'],
    ['us-east4', 'us-east4', 'https://connection.us-east4.gcp.keboola.com'],
    ['gcp-us', 'us-east4', 'https://connection.us-east4.gcp.keboola.com'],
    [' EU ', 'eu-central-1', 'https://connection.eu-central-1.keboola.com'],
  ])('resolves %j to %s', (input, id, url) => {
    expect(resolveRegion(input)).toMatchObject({ id, url });
  });

  it.each(['', 'europe', 'eu-west-1', 'azure'])('does not resolve %j', (input) => {
    expect(resolveRegion(input)).toBeUndefined();
  });

  it('lists every id with its alias', () => {
    expect(regionChoices()).toBe(
      'us-east-1 (us), eu-central-1 (eu), north-europe (azure-eu), europe-west3 (gcp-eu), us-east4 (gcp-us)',
    );
  });

  it.each([
    ['https://connection.keboola.com', 'us-east-1'],
    ['https://connection.keboola.com/', 'us-east-1'],
    ['https://CONNECTION.eu-central-1.keboola.com/', 'eu-central-1'],
    ['https://connection.north-europe.azure.keboola.com:443', 'north-europe'],
    ['https://connection.acme.keboola.com', undefined],
    ['http://connection.keboola.com', undefined],
    ['http://127.0.0.1:8080', undefined],
    ['not a url', undefined],
  ])('matches %s to region %s', (url, id) => {
    expect(regionForUrl(url)?.id).toBe(id);
  });

  it('has unique ids, aliases and https URLs without a trailing slash', () => {
    expect(new Set(REGIONS.map((region) => region.id)).size).toBe(REGIONS.length);
    expect(new Set(REGIONS.map((region) => region.alias)).size).toBe(REGIONS.length);
    for (const region of REGIONS) expect(region.url).toMatch(/^https:\/\/[^/]+$/);
  });
});
