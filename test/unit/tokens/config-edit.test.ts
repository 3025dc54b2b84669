import { describe, expect, it } from 'vitest';
import { editConfigText } from '../../../src/tokens/config-edit.js';
import { withToken } from '../../../src/tokens/config-token.js';

/** The text a token command writes for `text` with the source token replaced by `token`. */
function withSourceToken(text: string, token: string): string | undefined {
  return editConfigText(text, withToken(JSON.parse(text.replace(/^\uFEFF/, '')), 'source', token));
}

describe('editing config.json in place', () => {
  it('keeps numbers JSON.parse cannot hold, and every other byte, replacing only the token', () => {
    const text =
      '{\n    "parameters": {"#token": "old", "region": "us-east-1", "big": 12345678901234567891, "huge": 1e400, "price": 1.50},\n    "other": [1.0, -0]\n}\n';
    expect(withSourceToken(text, 'new')).toBe(text.replace('"old"', '"new"'));
  });

  it('keeps tabs, CRLF line ends and a byte order mark', () => {
    const text =
      '\uFEFF{\r\n\t"parameters": {\r\n\t\t"#token": "old",\r\n\t\t"url": "x"\r\n\t}\r\n}';
    expect(withSourceToken(text, 'new')).toBe(text.replace('"old"', '"new"'));
  });

  it('inserts a missing key at the file’s own indentation, and the stack of a new section', () => {
    const text = '{\n    "parameters": {\n        "tables": []\n    }\n}\n';
    const document = withToken(
      JSON.parse(text),
      'destination',
      'new',
      { region: 'eu-central-1' },
      'in.c-x',
    );
    const edited = editConfigText(text, document);
    expect(JSON.parse(edited ?? 'null')).toEqual(document);
    expect(edited).toMatch(/^ {8}"destination": \{\n {12}"#token": "new",$/m);
    expect(edited?.endsWith('\n    }\n}\n')).toBe(true);
  });

  it('edits a one-line file on its line', () => {
    const text = '{"parameters":{"#token":"old","url":"https://x"},"n":9007199254740993}';
    expect(withSourceToken(text, 'new')).toBe(text.replace('"old"', '"new"'));
  });

  it('gives up on a key named twice, where an edit could change the copy JSON.parse ignores', () => {
    const text = '{"parameters":{"#token":"a","#token":"b","url":"x"}}';
    expect(withSourceToken(text, 'new')).toBeUndefined();
  });

  it('gives up on a document that drops a key, and on one it cannot walk', () => {
    expect(editConfigText('{"a":1,"b":2}', { a: 1 })).toBeUndefined();
    const deep = `{"parameters":{"#token":"old"},"deep":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(withSourceToken(deep, 'new')).toBeUndefined();
  });
});
