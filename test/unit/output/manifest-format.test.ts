import { describe, expect, it } from 'vitest';
import { chooseManifestFormat } from '../../../src/output/manifest-format.js';

describe('chooseManifestFormat', () => {
  it.each([
    [undefined, undefined, 'legacy', 'neither storage.output.data_type_support'],
    [undefined, '', 'legacy', 'neither storage.output.data_type_support'],
    [undefined, 'none', 'legacy', 'KBC_DATA_TYPE_SUPPORT is "none"'],
    [undefined, 'hints', 'native', 'KBC_DATA_TYPE_SUPPORT is "hints"'],
    [undefined, 'authoritative', 'native', 'KBC_DATA_TYPE_SUPPORT is "authoritative"'],
    [undefined, 'Hints', 'legacy', 'KBC_DATA_TYPE_SUPPORT "Hints" is none of'],
    ['hints', undefined, 'native', 'config.json storage.output.data_type_support is "hints"'],
    ['authoritative', 'none', 'native', 'data_type_support is "authoritative"'],
    ['none', 'authoritative', 'legacy', 'config.json storage.output.data_type_support is "none"'],
  ] as const)('config %s, env %s → %s', (configured, fromEnv, format, because) => {
    const choice = chooseManifestFormat(configured, fromEnv);
    expect(choice.format).toBe(format);
    expect(choice.reason).toContain(because);
    expect(choice.reason).toMatch(
      format === 'native' ? /^Manifests: the native-types format/ : /^Manifests: the legacy format/,
    );
  });

  it('names the support it chose the native format for', () => {
    expect(chooseManifestFormat(undefined, 'authoritative')).toMatchObject({
      format: 'native',
      support: 'authoritative',
    });
  });
});
