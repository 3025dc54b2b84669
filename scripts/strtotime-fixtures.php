<?php

/**
 * Writes test/fixtures/strtotime.json: what PHP's strtotime() returns, in UTC, for every
 * changedSince form the job accepts (and a few it refuses on purpose), at fixed base times.
 * test/unit/config/strtotime-fixtures.test.ts compares the job's parser with it; CI has no PHP,
 * so the JSON is committed. Regenerate after changing the corpus:
 *
 *   php scripts/strtotime-fixtures.php > test/fixtures/strtotime.json
 *   npx prettier --write test/fixtures/strtotime.json
 *
 * A case may name a `difference` (docs/configuration.md, changedSince):
 * - `months`: the job moves months first and stops at the end of a shorter month, where PHP runs
 *   over into the next one. `expected` is computed here with PHP itself: the smaller of
 *   strtotime("N months") and strtotime("last day of N months") from the base (or from `from`),
 *   then the case's `rest` applied to that;
 * - `future`: the form lies after the base at every base; the job refuses it when it reads the
 *   configuration;
 * - `refused`: PHP rolls an impossible date over; the job refuses it;
 * - `unsupported`: PHP reads it, the job refuses it (a form whose PHP reading it does not follow);
 * - `unix-seconds`: bare digits are unix seconds for the job (PHP reads no date in them).
 */

date_default_timezone_set('UTC');

$bases = [
    '2025-03-31T12:30:45Z', // Monday, the last day of a 31-day month after a 28-day February
    '2025-04-01T00:00:00Z', // Tuesday, midnight, the first day of a month
    '2024-02-29T23:59:59Z', // Thursday, a leap day, one second before midnight
    '2024-03-31T06:07:08Z', // Sunday, a month end in a leap year
    '2025-01-04T08:15:00Z', // Saturday, early January ("last month" crosses the year)
    '2023-12-31T18:00:00Z', // Sunday, the last day of a year
    '2025-07-16T15:45:30Z', // Wednesday, mid-month
    '2025-10-31T09:00:00Z', // Friday, a month end before a 30-day month
];

/** [form, options]: options `difference` and, for `months`, `months`, `rest` and `from`. */
$cases = [
    // Anchors and times of day, in either order.
    ['now'],
    ['today'],
    ['midnight'],
    ['noon'],
    ['yesterday'],
    ['Yesterday'],
    ['YESTERDAY NOON'],
    ['yesterday 00:00'],
    ['yesterday 00:00:00'],
    ['yesterday 23:59:59'],
    ['yesterday 24:00'],
    ['yesterday noon'],
    ['noon yesterday'],
    ['yesterday midnight'],
    ['midnight yesterday'],
    ['10:00 yesterday'],
    ['today 06:00'],
    ['today 00:00'],
    ['today 18:00'],
    ['00:00'],
    ['9:05'],
    ['10:00 noon'],
    ['today -1 day'],
    ['midnight -1 day'],
    ['-1 day midnight'],
    ['-1 day 00:00'],
    ['-1 day 10:30'],
    ['-2 days 00:00'],
    ['00:00 -2 days'],
    ['noon -1 day'],
    ['-1 day noon'],
    ['yesterday -1 day'],
    ['-1 day yesterday'],
    ['yesterday -12 hours'],
    ['-1 week midnight'],
    ['tomorrow', ['difference' => 'future']],
    ['tomorrow -2 days'],
    // Relative items.
    ['-1 day'],
    ['-1 days'],
    ['-1day'],
    ['- 1 day'],
    ['-24 hours'],
    ['-36 hours'],
    ['-15 minutes'],
    ['-15 min'],
    ['-1 mins'],
    ['-30 secs'],
    ['-5 second'],
    ['-2 weeks'],
    ['-1 week'],
    ['-1 fortnight'],
    ['1 day ago'],
    ['2 days 3 hours ago'],
    ['-1 day -2 hours'],
    ['-1 day +2 hours'],
    ['-1 day, -2 hours'],
    ['last day'],
    ['last days'],
    ['last hour'],
    ['previous day'],
    ['this day'],
    ['+1 day', ['difference' => 'future']],
    ['1 day', ['difference' => 'future']],
    ['+1 hour', ['difference' => 'future']],
    // Months and years.
    ['-1 month', ['difference' => 'months', 'months' => -1]],
    ['last month', ['difference' => 'months', 'months' => -1]],
    ['previous month', ['difference' => 'months', 'months' => -1]],
    ['-3 months', ['difference' => 'months', 'months' => -3]],
    ['-13 months', ['difference' => 'months', 'months' => -13]],
    ['-1 year', ['difference' => 'months', 'months' => -12]],
    ['last year', ['difference' => 'months', 'months' => -12]],
    ['1 year ago', ['difference' => 'months', 'months' => -12]],
    ['-1 month -1 day', ['difference' => 'months', 'months' => -1, 'rest' => '-1 day']],
    ['-1 month midnight', ['difference' => 'months', 'months' => -1, 'rest' => 'midnight']],
    ['midnight -1 month', ['difference' => 'months', 'months' => -1, 'rest' => 'midnight']],
    ['-1 month 00:00', ['difference' => 'months', 'months' => -1, 'rest' => '00:00']],
    [
        '2024-02-29 +1 year',
        ['difference' => 'months', 'months' => 12, 'from' => '2024-02-29'],
    ],
    ['this month'],
    ['next month', ['difference' => 'future']],
    // Weeks: "last week" is Monday of last week at the current time, as in PHP 7.2+.
    ['last week'],
    ['previous week'],
    ['this week'],
    ['next week', ['difference' => 'future']],
    ['last week last week'],
    ['last weeks'],
    // Weekdays.
    ['monday'],
    ['sunday'],
    ['friday'],
    ['mon'],
    ['last monday'],
    ['last sunday'],
    ['last friday'],
    ['last sat'],
    ['Last Monday'],
    ['previous friday'],
    ['this monday'],
    ['this sunday'],
    ['next friday', ['difference' => 'future']],
    ['monday last week'],
    ['sunday last week'],
    ['friday last week'],
    ['monday this week'],
    ['sunday this week'],
    ['last week monday'],
    ['last week sunday'],
    ['monday previous week'],
    ['monday -1 week'],
    ['-1 week monday'],
    ['last monday 08:00'],
    ['08:00 last monday'],
    ['last monday noon'],
    ['monday last week 06:30'],
    // Business days.
    ['-1 weekday'],
    ['-2 weekdays'],
    ['-5 weekdays'],
    ['-6 weekdays'],
    ['-10 weekdays'],
    ['3 weekdays ago'],
    ['last weekday'],
    ['previous weekday'],
    ['this weekday'],
    ['-2 weekdays 00:00'],
    ['yesterday -1 weekday'],
    ['-1 weekday -12 hours'],
    ['+1 weekday', ['difference' => 'future']],
    // First and last day of a month.
    ['first day of last month'],
    ['last day of last month'],
    ['first day of previous month'],
    ['last day of previous month'],
    ['first day of this month'],
    ['last day of this month'],
    ['first day of -1 month'],
    ['last day of -2 months'],
    ['first day of last month midnight'],
    ['midnight first day of last month'],
    ['first day of this month 00:00'],
    ['last day of last month 23:59:59'],
    ['first day of last year'],
    ['first day of last month -1 day'],
    ['first day of next month', ['difference' => 'future']],
    ['first day of January 2024'],
    ['last day of February 2024'],
    ['last day of Feb 2023'],
    // Unix seconds.
    ['@1700000000'],
    ['@0'],
    ['1740787200', ['difference' => 'unix-seconds']],
    // Dates.
    ['2025-03-01'],
    ['2025-03-01T10:00:00Z'],
    ['2025-03-01 10:00'],
    ['2025-03-01T10:00:00+01:00'],
    ['2025-03-01T10:00:00+0100'],
    ['2024/01/01'],
    ['2024/1/5'],
    ['01/15/2024'],
    ['1/5/2024'],
    ['15.01.2024'],
    ['5.1.2024'],
    ['29.02.2024'],
    ['15-01-2024'],
    ['Jan 1 2024'],
    ['jan 1, 2024'],
    ['January 1, 2024'],
    ['January 1st, 2024'],
    ['1 January 2024'],
    ['1 Jan 2024'],
    ['31 Dec 2023'],
    ['Sept 1 2024'],
    ['February 2024'],
    ['2024-01-01 00:00:00 UTC'],
    ['2024-01-01 UTC'],
    ['2024-01-01 10:00 GMT'],
    ['Jan 1 2024 10:00 UTC'],
    ['01/15/2024 10:00'],
    ['15.01.2024 10:00:30'],
    ['2024-01-01 -1 day'],
    ['2024-01-01 yesterday'],
    ['2025-02-30', ['difference' => 'refused']],
    // first/last day of with a week or weekday phrase: PHP applies them in an order the job does
    // not follow, so it refuses them rather than give a later instant.
    ['first day of last week', ['difference' => 'unsupported']],
    ['first day of this week', ['difference' => 'unsupported']],
    ['last day of monday', ['difference' => 'unsupported']],
    // Zone words: the job works in UTC already.
    ['yesterday UTC'],
    ['today GMT'],
    ['-1 day UTC'],
    ['now UTC'],
    ['yesterday Z'],
];

$out = [
    'generator' => 'scripts/strtotime-fixtures.php',
    'php' => PHP_VERSION,
    'timezone' => date_default_timezone_get(),
    'bases' => array_map(fn ($iso) => strtotime($iso), $bases),
    'cases' => [],
];

foreach ($cases as $entry) {
    $form = $entry[0];
    $options = $entry[1] ?? [];
    $case = ['form' => $form, 'php' => []];
    foreach ($out['bases'] as $base) {
        $case['php'][] = strtotime($form, $base);
    }
    if (isset($options['difference'])) {
        $case['difference'] = $options['difference'];
    }
    if (($options['difference'] ?? '') === 'months') {
        $case['expected'] = array_map(fn ($base) => clampedMonths($options, $base), $out['bases']);
    }
    if (($options['difference'] ?? '') === 'unix-seconds') {
        $case['expected'] = array_fill(0, count($bases), (int) $form);
    }
    $out['cases'][] = $case;
}

echo json_encode($out, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES), "\n";

/**
 * The job's reading of a months shift: from the base (or `from`), move the months and stop at
 * the end of the target month, then apply `rest`.
 */
function clampedMonths(array $options, int $base): int
{
    $from = isset($options['from']) ? strtotime($options['from'], $base) : $base;
    $months = $options['months'];
    $shifted = min(
        strtotime("$months months", $from),
        strtotime("last day of $months months", $from),
    );
    return isset($options['rest']) ? strtotime($options['rest'], $shifted) : $shifted;
}
