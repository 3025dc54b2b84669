import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashValues, hideTokenShapes, holdsSecret, SecretMasker } from '../../src/secrets.js';

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

  // A secret preceded by 0, 1 or 2 bytes (modulo 3) is encoded in 3 entirely different ways.
  it.each([0, 1, 2, 3, 4, 5])(
    'masks the base64 of a secret preceded by %i bytes, all but the letters it shares with its neighbours',
    (prefixBytes) => {
      const s3Secret = 'S3SECRETcanary0000000000000000000000wxyz';
      const masker = new SecretMasker();
      masker.add(s3Secret);
      const blob = Buffer.from(`${'u'.repeat(prefixBytes)}${s3Secret}:tail`).toString('base64');
      // At most the first and the last group of 4 letters around the secret remain.
      expect(masker.mask(blob)).toMatch(/^[A-Za-z0-9+/]{0,12}\[hidden\][A-Za-z0-9+/=]{0,12}$/);
    },
  );

  it("masks a token's 40-character secret part on its own: the project and token ids are public", () => {
    const masker = new SecretMasker();
    masker.add(secret);
    const part = secret.split('-')[2] ?? '';
    expect(masker.mask(`bucket in.c-${part} for project 578`)).toBe(
      'bucket in.c-[hidden] for project 578',
    );
    expect(masker.mask(Buffer.from(`x:${part}`).toString('base64'))).toContain('[hidden]');
  });

  it('masks a secret with a quote or a backslash inside JSON text, escaped once or twice', () => {
    const quoted = '4242-67319-ab"cd\\ef';
    const masker = new SecretMasker();
    masker.add(quoted);
    const once = JSON.stringify({ error: `Token ${quoted} refused` });
    const twice = JSON.stringify({ msg: once });
    expect(masker.mask(once)).toBe('{"error":"Token [hidden] refused"}');
    expect(masker.mask(twice)).toBe(JSON.stringify({ msg: '{"error":"Token [hidden] refused"}' }));
  });

  it('registers a secret holding a lone surrogate, which no URL can encode', () => {
    const masker = new SecretMasker();
    masker.addHashKeys({ '#odd': 'abcdefgh\ud800' });
    expect(masker.mask('x abcdefgh\ud800 y')).toBe('x [hidden] y');
  });

  it('leaves ordinary text alone', () => {
    const masker = new SecretMasker();
    masker.add(secret);
    masker.add('S3SECRETcanary0000000000000000000000wxyz');
    const text = 'Copying 3 table(s): in.c-sales.orders, AAAAAAAA, 0000000000 rows, aGVsbG8=';
    expect(masker.mask(text)).toBe(text);
  });

  it('reveals: whether a text holds a registered secret or a token shape', () => {
    const masker = new SecretMasker();
    masker.add('NotTokenShapedSecret1');
    expect(masker.reveals('c_NotTokenShapedSecret1')).toBe(true);
    expect(masker.reveals('1-2-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCD')).toBe(true);
    expect(masker.reveals('orders')).toBe(false);
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

  it.each([
    ['spaces only', '        '],
    ['whitespace of any kind', ' \t\n\r \t\n\r'],
    ['too short once trimmed', '   abc   '],
    ['one character repeated', '------'],
    ['one digit repeated', '00000000'],
    ['one character repeated between spaces', ' - - - - - '],
  ])('ignores a degenerate value (%s): it would garble every text', (_name, value) => {
    const masker = new SecretMasker();
    masker.addHashKeys({ image_parameters: { '#note': value } });
    const text = `{\n        "key": "a ------ rule",\n  "rows": "1000000000"\n}\n - - - - - `;
    expect(masker.mask(text)).toBe(text);
    expect(masker.size).toBe(0);
    expect(holdsSecret(text, [value])).toBe(false);
  });

  it('hides every one of many secrets registered between masks, a longer one whole', () => {
    // As a long run registers each table's file credentials while it logs.
    const masker = new SecretMasker();
    const secrets: string[] = [];
    for (let table = 0; table < 400; table++) {
      const key = `AKIA${String(table).padStart(16, '0')}`;
      const secret = `s3secret/${table}+${'x'.repeat(table % 40)}`;
      // A session token that contains the table's secret key: it must be hidden whole.
      const session = `FwoGZX${secret}IvYXdzEJr${table}`;
      for (const value of [key, secret, session]) masker.add(value);
      secrets.push(key, secret, session);
      const line = `table ${table}: ${session} ${key}:${encodeURIComponent(secret)}`;
      expect(masker.mask(line)).toBe(`table ${table}: [hidden] [hidden]:[hidden]`);
    }
    const everything = secrets.join(' | ');
    const masked = masker.mask(everything);
    expect(masked).toBe(secrets.map(() => '[hidden]').join(' | '));
  });

  // The index only chooses which forms to try (src/secrets.ts, candidatesIn): it must hide exactly
  // what trying every form hides, also where secrets overlap, contain one another, or spell part
  // of `[hidden]`, so that a replacement creates a new occurrence of another form.
  it('masks the same with the index of forms as by trying every form', () => {
    const letters = fc.constantFrom(...'ab[]hiden%"\\ '.split(''));
    const secretArb = fc.string({ unit: letters, minLength: 6, maxLength: 14 });
    // A piece of the text: which secret, in which shape, cut where.
    const pieceArb = fc.tuple(fc.nat(), fc.nat({ max: 6 }), fc.nat({ max: 14 }));
    const shapes = [
      (secret: string) => secret,
      (secret: string) => encodeURIComponent(secret),
      (secret: string) => JSON.stringify(secret).slice(1, -1),
      // A secret's beginning or end next to another secret: a replacement can complete it.
      (secret: string, cut: number) => secret.slice(0, cut),
      (secret: string, cut: number) => secret.slice(cut),
      () => SecretMasker.replacement,
      () => ' ',
    ];
    fc.assert(
      fc.property(
        fc.array(secretArb, { minLength: 1, maxLength: 12 }),
        fc.array(pieceArb, { maxLength: 16 }),
        (secrets, pieces) => {
          const indexed = new SecretMasker({ indexFromForms: 0 });
          const everyForm = new SecretMasker({ indexFromForms: Number.POSITIVE_INFINITY });
          for (const secret of secrets) {
            indexed.add(secret);
            everyForm.add(secret);
          }
          const text = pieces
            .map(([which, shape, cut]) =>
              (shapes[shape] ?? String)(secrets[which % secrets.length] ?? '', cut),
            )
            .join('');
          expect(indexed.mask(text)).toBe(everyForm.mask(text));
        },
      ),
      { numRuns: 2000, seed: 20261130 },
    );
  });

  it('replaces two overlapping forms of one length in the order they were registered, with or without the index', () => {
    for (const indexFromForms of [0, Number.POSITIVE_INFINITY]) {
      const masker = new SecretMasker({ indexFromForms });
      masker.add('defghi');
      masker.add('abcdef');
      expect(masker.mask('abcdefghi')).toBe('abc[hidden]');
    }
  });

  it('masks with the index once a run holds many forms, the way the plain loop does', () => {
    const masker = new SecretMasker();
    const keys = Array.from({ length: 300 }, (_, i) => `ASIA${String(i).padStart(16, '0')}`);
    for (const key of keys) masker.add(key);
    expect(masker.size).toBeGreaterThan(64);
    const line = `keys ${keys[7]} and ${encodeURIComponent(keys[299] ?? '')}, not ASIA0000`;
    expect(masker.mask(line)).toBe('keys [hidden] and [hidden], not ASIA0000');
  });

  it('registers a value of two characters repeated, and one with spaces inside', () => {
    const masker = new SecretMasker();
    masker.add('ababab');
    masker.add('  pass word  ');
    expect(masker.mask('x ababab y pass word z')).toBe('x [hidden] y [hidden] z');
  });
});

describe('SecretMasker.maskedJson', () => {
  const secret = 'NotTokenShapedSecret1';
  const token = '4242-67319-ca11ab1eca11ab1e00000000000000000000000b';

  it('masks each string on its own, values and keys, at any depth, and keeps the rest', () => {
    const masker = new SecretMasker();
    masker.add(secret);
    const document = {
      metadata: [{ key: 'KBC.description', value: `key ${secret}, token ${token}` }],
      [`col_${secret}`]: [{ n: 1, ok: true, none: null, quote: 'a "b" \\ c' }],
      at: new Date(Date.UTC(2025, 0, 1)),
    };
    expect(JSON.parse(masker.maskedJson(document, 2))).toEqual({
      metadata: [{ key: 'KBC.description', value: 'key [hidden], token [hidden]' }],
      'col_[hidden]': [{ n: 1, ok: true, none: null, quote: 'a "b" \\ c' }],
      at: '2025-01-01T00:00:00.000Z',
    });
  });

  it('never cuts across the structure: a secret spelling quotes, commas or indentation', () => {
    const masker = new SecretMasker();
    const structure = '",\n  "b": "';
    masker.add(`x1${structure}`);
    const document = { a: 'x1', b: 'y2', c: `says x1${structure}` };
    const text = masker.maskedJson(document, 2);
    expect(JSON.parse(text)).toEqual({ a: 'x1', b: 'y2', c: 'says [hidden]' });
  });

  it('masks a secret with a quote or a backslash in its plain form inside a string', () => {
    const quoted = '4242-67319-ab"cd\\ef';
    const masker = new SecretMasker();
    masker.add(quoted);
    expect(masker.maskedJson({ error: `Token ${quoted} refused` })).toBe(
      '{"error":"Token [hidden] refused"}',
    );
  });

  it('writes exactly JSON.stringify when nothing is hidden', () => {
    const masker = new SecretMasker();
    masker.add(secret);
    const document = { tables: [{ source: 'in.c-sales.orders', rows: 3 }], warnings: [] };
    for (const indent of [0, 2]) {
      expect(masker.maskedJson(document, indent)).toBe(JSON.stringify(document, null, indent));
    }
  });
});

describe('hashValues', () => {
  it('collects every string inside a # key that holds a list or an object, at any depth', () => {
    let deep: unknown = 'deep-in-list-secret';
    for (let level = 0; level < 10_000; level++) deep = level % 2 === 0 ? [deep] : { k: deep };
    const found = hashValues({
      parameters: {
        '#keys': ['list-secret-1', { nested: 'object-in-list-secret', n: 42 }],
        '#creds': { user: 'object-secret-user', more: { pass: 'object-secret-pass' } },
        '#deep': deep,
        plain: ['not-a-secret'],
      },
    });
    expect(found.sort()).toEqual(
      [
        'deep-in-list-secret',
        'list-secret-1',
        'object-in-list-secret',
        'object-secret-pass',
        'object-secret-user',
      ].sort(),
    );
  });
});

describe('holdsSecret', () => {
  it("finds a secret or a token's secret part inside a text", () => {
    const token = '101-1001-5ea1e5f0c0ffee00000000000000000000000001';
    const part = '5ea1e5f0c0ffee00000000000000000000000001';
    expect(holdsSecret(`c_${part}`, [token])).toBe(true);
    expect(holdsSecret('orders', [token, 'abc'])).toBe(false);
    // Too short to tell from ordinary words, as in SecretMasker.
    expect(holdsSecret('abcdef', ['abc'])).toBe(false);
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
