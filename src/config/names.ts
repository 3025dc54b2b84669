/**
 * Keboola's naming rules for buckets and tables, as this job enforces them before any data moves
 * (docs/configuration.md, "Names"). Pure.
 *
 * - A table name, and the name part of a bucket id, is 1 to 96 characters of `A-Z a-z 0-9 _ -`.
 *   That excludes dots (a table id has exactly three dot-separated parts), slashes, spaces,
 *   control characters and everything else that could change a URL path or leave `out/tables`.
 * - A bucket id is `<stage>.<name>` with stage `in` or `out` (`sys` too for a source).
 * - A full table id is `<bucket id>.<table name>`.
 * - A value shaped like a Keboola token is never a name (it would end up in a file name and logs).
 */
import { looksLikeToken } from '../secrets.js';

export const MAX_NAME_LENGTH = 96;
const NAME_PART = /^[A-Za-z0-9_-]{1,96}$/;

export type NameCheck =
  | { readonly ok: true }
  /** `shape`: the value is not even shaped like the expected id (stage, parts). */
  | { readonly ok: false; readonly why: string; readonly shape?: boolean };

const OK: NameCheck = { ok: true };

function refuse(why: string, shape = false): NameCheck {
  return { ok: false, why, shape };
}

/** A bare table or bucket name: `orders`, `c-sales`. */
export function checkNamePart(text: string, what: string): NameCheck {
  if (looksLikeToken(text)) {
    return refuse(
      `looks like a Storage API token, never a ${what}; paste tokens only into "#token"`,
    );
  }
  if (text.length > MAX_NAME_LENGTH) {
    return refuse(`is ${text.length} characters long; a ${what} has at most ${MAX_NAME_LENGTH}`);
  }
  if (!NAME_PART.test(text)) {
    return refuse(
      `is not a valid ${what}: use only letters, digits, "_" and "-" (1 to ${MAX_NAME_LENGTH})`,
    );
  }
  return OK;
}

/** A bucket id `in.c-sales`; `stages` are the allowed stages. */
export function checkBucketId(text: string, stages: readonly string[]): NameCheck {
  if (looksLikeToken(text)) return checkNamePart(text, 'bucket id');
  const dot = text.indexOf('.');
  const stage = text.slice(0, Math.max(0, dot));
  if (dot < 0 || !stages.includes(stage)) {
    return refuse(
      `is not a bucket id: use the stage (${stages.join(' or ')}), a dot and the bucket name, e.g. "in.c-copy"`,
      true,
    );
  }
  return checkNamePart(text.slice(dot + 1), 'bucket name');
}

/**
 * A table name `orders` or a full table id `in.c-sales.orders`; `shapeHint` is the reason given
 * when the value is not shaped like either.
 */
export function checkTableRef(
  text: string,
  stages: readonly string[],
  shapeHint: string,
): NameCheck {
  if (!text.includes('.') || looksLikeToken(text)) return checkNamePart(text, 'table name');
  const parts = text.split('.');
  if (parts.length !== 3 || parts.includes('')) return refuse(shapeHint, true);
  const bucket = checkBucketId(`${parts[0]}.${parts[1]}`, stages);
  if (!bucket.ok) return bucket.shape === true ? refuse(shapeHint, true) : bucket;
  return checkNamePart(parts[2] ?? '', 'table name');
}

/** `orders` for `orders` and for `in.c-sales.orders` (a full id must lie in the token's bucket). */
export function shortTableName(tableNameOrId: string): string {
  return tableNameOrId.split('.').at(-1) ?? tableNameOrId;
}

/**
 * The table a destination names: a full id as written; a short name inside `bucket` when the
 * bucket is known (standalone mode's `destination.bucket`, or the default bucket of platform
 * mode), else the short name alone.
 */
export function destinationTableId(destination: string, bucket: string | undefined): string {
  return destination.includes('.') || bucket === undefined
    ? destination
    : `${bucket}.${destination}`;
}

/**
 * The key under which two table ids are one table: Keboola compares table names regardless of
 * case, so `orders` and `Orders` cannot both exist in one bucket (docs/configuration.md, Names).
 */
export function tableIdKey(tableId: string): string {
  return tableId.toLowerCase();
}
