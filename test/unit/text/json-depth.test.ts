import { describe, expect, it } from 'vitest';
import { deepestNesting } from '../../../src/text/json-depth.js';

/** `{ a: … }` with `levels` arrays and `{ b: … }` objects, alternating, below the top object. */
function nested(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { b: value };
  return { a: value };
}

describe('deepestNesting', () => {
  it('measures scalars as depth 0 and the top object or array as level 1', () => {
    expect(deepestNesting('text')).toEqual({ depth: 0, path: [] });
    expect(deepestNesting({ a: 1 })).toEqual({ depth: 1, path: [] });
    expect(deepestNesting([[], { x: {} }])).toEqual({ depth: 3, path: [1, 'x'] });
  });

  it('names the first three keys of the path to the deepest value, at any depth', () => {
    const found = deepestNesting(nested(100_000));
    expect(found.depth).toBe(100_001);
    expect(found.path).toEqual(['a', 'b', 0]);
  });

  it('stops at the first value deeper than stopAboveDepth', () => {
    const found = deepestNesting(nested(100_000), 512);
    expect(found.depth).toBe(513);
    expect(found.path).toEqual(['a', 'b', 0]);
    expect(deepestNesting(nested(10), 512).depth).toBe(11);
  });
});
