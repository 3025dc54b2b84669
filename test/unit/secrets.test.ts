import { describe, expect, it } from 'vitest';
import { hideTokenShapes, SecretMasker } from '../../src/secrets.js';

describe('SecretMasker', () => {
  const secret = '578-67319-460300c259ec3fcba4b95d1d5c14a8419268bc2b';

  it.each([
    ['plain', secret],
    ['url-encoded', encodeURIComponent(`a=${secret}&b`)],
    ['base64', Buffer.from(secret).toString('base64')],
    ['base64 inside a longer blob', Buffer.from(`user:${secret}:x`).toString('base64')],
  ])('masks the %s form', (_name, text) => {
    const masker = new SecretMasker();
    masker.add(secret);
    expect(masker.mask(`before ${text} after`)).not.toContain(secret);
    expect(masker.mask(`before ${Buffer.from(secret).toString('base64')}`)).toContain('[hidden]');
  });

  it('collects # values from nested config', () => {
    const masker = new SecretMasker();
    masker.addHashKeys({
      parameters: { '#token': 'abcdefgh123', destination: { '#token': 'zyxwvu987' } },
    });
    expect(masker.mask('abcdefgh123 zyxwvu987')).toBe('[hidden] [hidden]');
  });

  it.each([60, 100_000])('collects a # value nested %i levels deep', (depth) => {
    let nested: unknown = { '#deep': 'deep-secret-value' };
    for (let level = 0; level < depth; level++) nested = { [`k${level % 3}`]: [nested] };
    const masker = new SecretMasker();
    masker.addHashKeys({ image_parameters: nested });
    expect(masker.mask('columns: deep-secret-value')).toBe('columns: [hidden]');
  });

  it('masks the trimmed form of a secret registered with spaces around it', () => {
    const masker = new SecretMasker();
    masker.addHashKeys({ parameters: { '#token': ' abcdefgh123\t' } });
    expect(masker.mask('token abcdefgh123 refused')).toBe('token [hidden] refused');
  });

  it('ignores values too short to mask safely', () => {
    const masker = new SecretMasker();
    masker.add('abc');
    expect(masker.mask('abc')).toBe('abc');
  });
});

describe('hideTokenShapes', () => {
  it('hides a token before a caller cuts the text, so no prefix of it survives', () => {
    const token = '101-1001-5ea1e5f0c0ffee00000000000000000000000001';
    expect(hideTokenShapes(`x ${token} y`).slice(0, 12)).toBe('x [hidden] y');
    expect(hideTokenShapes('kbc_pat_abcdef123')).toBe('[hidden]');
    expect(hideTokenShapes('0/3')).toBe('0/3');
  });
});
