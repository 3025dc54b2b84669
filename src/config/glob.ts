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
 * Compiles a pattern to an anchored regular expression (every other syntax character escaped).
 * `-` stays as it is: it is literal outside a class, and `\-` is a syntax error with the `u` flag.
 */
export function globToRegExp(pattern: string): RegExp {
  const source = [...pattern]
    .map((char) =>
      char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`, 'u');
}

export function matchesGlob(pattern: string, name: string): boolean {
  return globToRegExp(pattern).test(name);
}
