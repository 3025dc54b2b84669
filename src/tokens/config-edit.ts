/**
 * Edits config.json's text in place (pure): the values a token command changes are replaced where
 * they stand, and every other byte of the file stays as the user wrote it. A re-serialised
 * document would change what JSON.parse cannot keep: integers beyond 2^53 (`12345678901234567891`
 * became `12345678901234567000`), `1e400` (became `null`), `1.50` and the layout (docs/tokens.md,
 * `token create`).
 */
import { isDeepStrictEqual } from 'node:util';
import {
  applyEdits,
  modify,
  parseTree,
  type FormattingOptions,
  type JSONPath,
  type Node,
} from 'jsonc-parser';
import { isPlainObject } from '../config/fields.js';

const BYTE_ORDER_MARK = '\uFEFF';

/** One value of the new document that the old text does not hold. */
interface Change {
  readonly path: JSONPath;
  readonly value: unknown;
}

/**
 * `text` (a config.json that JSON.parse reads as an object) changed so that it parses to `after`,
 * by replacing or inserting only the values that differ. Undefined when that cannot be done
 * faithfully, and the caller serialises `after` whole instead: the text is not an object, it has
 * a key twice in one object (JSON.parse takes the last, an edit might change the first), `after`
 * drops a key, it nests too deep to walk, or the edited text would not parse to `after`.
 */
export function editConfigText(text: string, after: unknown): string | undefined {
  const bom = text.startsWith(BYTE_ORDER_MARK) ? BYTE_ORDER_MARK : '';
  const body = text.slice(bom.length);
  try {
    const before = JSON.parse(body) as unknown;
    const tree = parseTree(body);
    if (tree === undefined || hasDuplicateKey(tree)) return undefined;
    const changes = changesBetween(before, after, []);
    if (changes === undefined) return undefined;
    const options = formattingOf(body);
    let edited = body;
    for (const { path, value } of changes) {
      edited = applyEdits(edited, modify(edited, path, value, { formattingOptions: options }));
    }
    return isDeepStrictEqual(JSON.parse(edited), after) ? bom + edited : undefined;
  } catch (error) {
    // Arrays and objects nested thousands deep overflow the walks; serialising reports that.
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/**
 * The values of `after` that `before` lacks or holds otherwise, as paths into objects (both
 * objects are walked key by key; anything else is replaced whole). Undefined when `after` lacks
 * a key `before` has: removing is not an edit the token commands make.
 */
function changesBetween(before: unknown, after: unknown, path: JSONPath): Change[] | undefined {
  if (!isPlainObject(before) || !isPlainObject(after)) {
    return isDeepStrictEqual(before, after) ? [] : [{ path, value: after }];
  }
  if (Object.keys(before).some((key) => !Object.hasOwn(after, key))) return undefined;
  const changes: Change[] = [];
  for (const [key, value] of Object.entries(after)) {
    if (!Object.hasOwn(before, key)) {
      changes.push({ path: [...path, key], value });
      continue;
    }
    const inner = changesBetween(before[key], value, [...path, key]);
    if (inner === undefined) return undefined;
    changes.push(...inner);
  }
  return changes;
}

/** Whether any object of the tree names a key twice. */
function hasDuplicateKey(root: Node): boolean {
  const pending: Node[] = [root];
  while (pending.length > 0) {
    const node = pending.pop() as Node;
    const children = node.children ?? [];
    if (node.type === 'object') {
      const keys = children.map((property) => property.children?.[0]?.value as unknown);
      if (new Set(keys).size !== keys.length) return true;
    }
    pending.push(...children);
  }
  return false;
}

/** Inserted keys are indented and ended as the file's own lines are (two spaces by default). */
function formattingOf(text: string): FormattingOptions {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const indent = /\n([ \t]+)\S/.exec(text)?.[1] ?? '  ';
  return indent.startsWith('\t')
    ? { insertSpaces: false, tabSize: 1, eol }
    : { insertSpaces: true, tabSize: indent.length, eol };
}
