/** How many keys of the path to the deepest value are named: enough to find it. */
const SHOWN_PATH_KEYS = 3;

/** Where a JSON value nests deepest: its depth (the value itself is level 1) and the path's first keys. */
export interface DeepestNesting {
  readonly depth: number;
  readonly path: readonly (string | number)[];
}

/**
 * The deepest array or object of a JSON value and the first {@link SHOWN_PATH_KEYS} keys of the
 * path to it; with `stopAboveDepth`, the first one found deeper than that, without walking the
 * rest. Walks without recursion, so any depth JSON.parse returns is measured (pure).
 */
export function deepestNesting(value: unknown, stopAboveDepth = Infinity): DeepestNesting {
  let deepest: DeepestNesting = { depth: 0, path: [] };
  const pending: Array<{ node: unknown; depth: number; path: (string | number)[] }> = [
    { node: value, depth: 1, path: [] },
  ];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { node, depth, path } = next;
    if (node === null || typeof node !== 'object') continue;
    if (depth > deepest.depth) deepest = { depth, path };
    if (depth > stopAboveDepth) return deepest;
    const entries: Array<[string | number, unknown]> = Array.isArray(node)
      ? node.map((child, index): [number, unknown] => [index, child])
      : Object.entries(node);
    for (const [key, child] of entries) {
      const childPath = path.length < SHOWN_PATH_KEYS ? [...path, key] : path;
      pending.push({ node: child, depth: depth + 1, path: childPath });
    }
  }
  return deepest;
}
