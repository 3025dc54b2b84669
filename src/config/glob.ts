/**
 * Table-name patterns (docs/configuration.md, "Whole buckets"): `*` matches any run of characters
 * (also none), `?` exactly one; everything else is literal. Table names are letters, digits, `_`
 * and `-`, so no path, brace or class syntax is needed; a glob library would add rules (slashes,
 * dot files) that mean nothing here. Pure.
 */

/** Whether a configured table name is a pattern rather than a name. */
export function isPattern(name: string): boolean {
  return name.includes('*') || name.includes('?');
}

/**
 * Whether `name` matches `pattern` as a whole. Walks both once, going back only to the last `*`
 * seen, so a pattern of many `*` costs at most (pattern × name) steps: a regular expression of
 * `.*` runs backtracks exponentially on a name that almost matches (`*a*a*a*a*a*a*a*a*a*a*b`
 * against 60 × `a` ran for minutes). Compares code points, so `?` is one character.
 */
export function matchesGlob(pattern: string, name: string): boolean {
  const wanted = [...pattern];
  const given = [...name];
  let at = 0;
  let from = 0;
  // The last `*` seen, and the position in `name` it has taken up to so far.
  let star = -1;
  let starTook = 0;
  while (from < given.length) {
    const char = wanted[at];
    if (char === '*') {
      star = at;
      starTook = from;
      at += 1;
    } else if (char !== undefined && (char === '?' || char === given[from])) {
      at += 1;
      from += 1;
    } else if (star >= 0) {
      // The last `*` takes one character more, and the rest is tried again after it.
      at = star + 1;
      starTook += 1;
      from = starTook;
    } else {
      return false;
    }
  }
  while (wanted[at] === '*') at += 1;
  return at === wanted.length;
}
