/**
 * The job's `changedSince` against real PHP. test/fixtures/strtotime.json holds what PHP's
 * strtotime() returned, in the UTC zone, for each form at each base time; CI has no PHP, so the
 * file is committed. It is written by scripts/strtotime-fixtures.php (the corpus lives there):
 *
 *   apt-get install -y php-cli
 *   php scripts/strtotime-fixtures.php > test/fixtures/strtotime.json
 *   npx prettier --write test/fixtures/strtotime.json
 *
 * Every form resolves to PHP's unix seconds at every base, except the cases that name a
 * `difference` (docs/configuration.md, changedSince, "Differences from PHP").
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseChangedSince, resolveChangedSince } from '../../../src/config/changed-since.js';

interface Fixture {
  readonly php: string;
  readonly timezone: string;
  readonly bases: readonly number[];
  readonly cases: readonly {
    readonly form: string;
    readonly php: readonly (number | false)[];
    readonly difference?: 'months' | 'future' | 'refused' | 'unsupported' | 'unix-seconds';
    readonly expected?: readonly number[];
  }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/strtotime.json', import.meta.url), 'utf8'),
) as Fixture;
const alike = fixture.cases.filter((c) => c.difference === undefined);
const differing = (kind: string) => fixture.cases.filter((c) => c.difference === kind);

/** The unix seconds the job resolves `form` to at each base, or its parse error. */
function ours(form: string): (number | string)[] {
  const parsed = parseChangedSince(form);
  if (!parsed.ok) return fixture.bases.map(() => parsed.message);
  const value = parsed.value;
  if (value === undefined) return fixture.bases.map(() => 'no filter');
  return fixture.bases.map((base) => resolveChangedSince(value, base * 1000));
}

describe(`changedSince against PHP ${fixture.php} strtotime (${fixture.timezone})`, () => {
  it('holds a corpus of at least 150 forms at 8 base times', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(150);
    expect(fixture.bases).toHaveLength(8);
  });

  it.each(alike.map((c) => [c.form, c.php] as const))('%j resolves as PHP does', (form, php) => {
    expect(ours(form)).toEqual(php);
  });

  it.each(differing('months').map((c) => [c.form, c.php, c.expected ?? []] as const))(
    '%j moves the months first and stops at a shorter month’s end, never after PHP',
    (form, php, expected) => {
      expect(ours(form)).toEqual(expected);
      expected.forEach((seconds, index) => expect(seconds).toBeLessThanOrEqual(Number(php[index])));
    },
  );

  it.each(differing('future').map((c) => [c.form, c.php] as const))(
    '%j lies in the future at every base, so the job refuses it',
    (form, php) => {
      php.forEach((seconds, index) => expect(seconds).toBeGreaterThan(fixture.bases[index]!));
      expect(ours(form)[0]).toMatch(/lies in the future/);
    },
  );

  it.each(differing('refused').map((c) => [c.form] as const))(
    '%j is an impossible date PHP rolls over; the job refuses it',
    (form) => {
      expect(ours(form)[0]).toMatch(/is not a date/);
    },
  );

  it.each(differing('unsupported').map((c) => [c.form, c.php] as const))(
    '%j is a form PHP reads in an order the job does not follow; the job refuses it',
    (form, php) => {
      expect(php.every((value) => typeof value === 'number')).toBe(true);
      expect(ours(form)[0]).toMatch(/is not a date/);
    },
  );

  it.each(differing('unix-seconds').map((c) => [c.form, c.php, c.expected ?? []] as const))(
    '%j is unix seconds for the job, no date for PHP',
    (form, php, expected) => {
      expect(php.every((value) => value === false)).toBe(true);
      expect(ours(form)).toEqual(expected);
    },
  );
});
