/**
 * Pure decisions of the `token` commands (docs/tokens.md): `--expires-in` parsing, who may create
 * tokens, the create body, the last activity and the inspect report. No I/O.
 */
import {
  checkDestinationToken,
  checkSourceToken,
  destinationTokenWarnings,
} from '../auth/check-token.js';
import { messageOf, UserError } from '../errors.js';
import { hideTokenShapes } from '../secrets.js';
import { escapeForDisplay } from '../text/escape.js';
import { timestampMs } from '../storage/parse.js';
import type {
  TokenCreateBody,
  TokenDetails,
  TokenEvent,
  VerifiedToken,
} from '../storage/token-api.js';

/** Which token of config.json a command works on. */
export type TokenRole = 'source' | 'destination';

const UNIT_SECONDS = { d: 86_400, h: 3_600, m: 60, s: 1 } as const;
const DAY_MS = 86_400_000;

/**
 * The longest `--expires-in`, 100 years: the API turns it into an `expires` date, and a larger
 * value only reaches dates no one can wait for (the emulator's dates end at year 275 760, so
 * `99999999999d` failed there as an internal error); for a token that never expires, leave the
 * flag out (docs/tokens.md).
 */
const MAX_EXPIRES_IN_SECONDS = 36_500 * UNIT_SECONDS.d;

/**
 * `--expires-in`: `90d`, `12h`, `30m`, `45s` or plain seconds; at least 1 second (the API
 * minimum), at most {@link MAX_EXPIRES_IN_SECONDS}.
 * @throws UserError naming the flag and the accepted forms
 */
export function parseExpiresIn(text: string): number {
  const match = /^\s*(\d+)\s*([dhms]?)\s*$/i.exec(text);
  const amount = match ? Number(match[1]) : Number.NaN;
  const unit = (match?.[2] || 's').toLowerCase() as keyof typeof UNIT_SECONDS;
  const seconds = amount * UNIT_SECONDS[unit];
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new UserError(
      `--expires-in ${JSON.stringify(hideTokenShapes(text).slice(0, 20))} is not a duration: use 90d, 12h, 30m or a number of seconds (at least 1).`,
    );
  }
  if (seconds > MAX_EXPIRES_IN_SECONDS) {
    throw new UserError(
      `--expires-in is longer than 36500d (100 years), the longest it takes: for a token that never expires, leave --expires-in out.`,
    );
  }
  return seconds;
}

/**
 * Refuses a creating token that cannot mint the least-privilege token: a limited token, a
 * read-only master (the API answers 403) and a guest master (the API would silently drop the
 * bucket permissions and mint a token that reads nothing).
 * @throws UserError with one sentence naming `KBC_MASTER_TOKEN` and the reason
 */
export function checkCreatorToken(creator: TokenDetails): void {
  if (!creator.isMasterToken) {
    throw new UserError(
      'KBC_MASTER_TOKEN is not a master token: only a master token (of an admin or share user) can create tokens.',
    );
  }
  if (creator.role === 'readOnly') {
    throw new UserError(
      'KBC_MASTER_TOKEN belongs to a user with the readOnly role, which cannot create tokens: use the master token of an admin or share user.',
    );
  }
  if (creator.role === 'guest') {
    throw new UserError(
      'KBC_MASTER_TOKEN belongs to a user with the guest role, whose new tokens silently lose every bucket permission: use the master token of an admin or share user.',
    );
  }
}

/**
 * The least-privilege create body: one bucket, nothing else, the expiry when asked. The default
 * description carries the creation minute, so tokens for one bucket can be told apart.
 */
export function buildCreateBody(options: {
  readonly bucketId: string;
  readonly permission: 'read' | 'write';
  readonly expiresInSeconds?: number | undefined;
  readonly description?: string | undefined;
  readonly createdAt: Date;
}): TokenCreateBody {
  const minute = options.createdAt.toISOString().slice(0, 16);
  return {
    description:
      options.description ??
      `kbc-table-sync: ${options.permission} on ${options.bucketId}, created ${minute}Z`,
    bucketPermissions: { [options.bucketId]: options.permission },
    ...(options.expiresInSeconds !== undefined && { expiresIn: options.expiresInSeconds }),
    canManageBuckets: false,
    canReadAllFileUploads: false,
    canPurgeTrash: false,
  };
}

export interface LastActivity {
  /** ISO timestamp of the newest event. */
  readonly at: string;
  readonly event: string;
}

/** The newest of the token's own events; null when it has none. */
export function lastActivity(events: readonly TokenEvent[]): LastActivity | null {
  let newest: TokenEvent | undefined;
  for (const event of events) {
    if (!newest || timestampMs(event.created) > timestampMs(newest.created)) newest = event;
  }
  return newest ? { at: isoOf(newest.created), event: newest.event } : null;
}

/** Whole days until `expires` (negative once past); null for a token that never expires. */
export function daysLeft(expires: string | null, nowMs: number): number | null {
  if (expires === null) return null;
  const expiresMs = timestampMs(expires);
  return Number.isFinite(expiresMs) ? Math.floor((expiresMs - nowMs) / DAY_MS) : null;
}

/** What the job's own token rules say about a token: the run's check, with its warnings. */
export interface TokenVerdict {
  readonly passes: boolean;
  /** The sentence a run would fail with; absent when it passes. */
  readonly error?: string;
  readonly warnings: readonly string[];
}

/** The verdict on a destination token whose config names no bucket to check it against. */
const DESTINATION_BUCKET_UNSET =
  'parameters.destination.bucket is not set, so the destination rule (write permission to that bucket) cannot be checked: add the bucket the token must write to, such as "in.c-copy".';

/**
 * Applies the job's token rules (the same functions a run calls): the source rule for the
 * source token, the destination rule on `destinationBucket` for the destination token (which
 * fails, naming the key, when there is none).
 */
export function judgeToken(
  verified: VerifiedToken,
  role: TokenRole,
  options: {
    readonly nowMs: number;
    readonly configuredRegion?: string | undefined;
    readonly destinationBucket?: string | undefined;
  },
): TokenVerdict {
  try {
    if (role === 'source') {
      const auth = checkSourceToken(verified.info, {
        nowMs: options.nowMs,
        ...(options.configuredRegion ? { configuredRegion: options.configuredRegion } : {}),
      });
      return { passes: true, warnings: auth.warnings };
    }
    if (!options.destinationBucket) {
      return { passes: false, error: DESTINATION_BUCKET_UNSET, warnings: [] };
    }
    checkDestinationToken(verified.info, options.destinationBucket, true);
    return { passes: true, warnings: destinationTokenWarnings(verified.info, options.nowMs) };
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    return { passes: false, error: messageOf(error), warnings: [] };
  }
}

/** Inspect's own warning for a token without expiry (create warns when it makes one). */
function noExpiryWarning(role: TokenRole): string {
  return `The ${role} token never expires, so a leaked copy works until it is revoked: replace it with one from "kbc-table-sync token create --expires-in 90d" (or another duration).`;
}

/** The `token inspect` document (`--json` prints it as is). Never holds the token string. */
export interface InspectReport {
  /** Which token of config.json this is. */
  readonly which: TokenRole;
  readonly id: string;
  readonly description: string;
  readonly project: { readonly id: number; readonly name: string };
  readonly isMasterToken: boolean;
  /** `admin.role` of a master token. */
  readonly masterRole: string | null;
  readonly bucketPermissions: Readonly<Record<string, string>>;
  readonly flags: Readonly<Record<string, boolean>>;
  /** The components the token may use (`componentAccess`); the job needs none. */
  readonly componentAccess: readonly string[];
  readonly created: string | null;
  readonly refreshed: string | null;
  readonly expires: string | null;
  readonly daysLeft: number | null;
  readonly lastActivity: LastActivity | null;
  readonly verdict: TokenVerdict;
}

/**
 * The inspect document. A passing verdict also warns about a token that never expires (inspect's
 * own warning; a run does not give it).
 */
export function buildInspectReport(
  verified: VerifiedToken,
  activity: LastActivity | null,
  verdict: TokenVerdict,
  role: TokenRole,
  nowMs: number,
): InspectReport {
  const d = verified.details;
  return {
    which: role,
    id: d.id,
    description: d.description,
    project: { id: verified.info.owner.id, name: verified.info.owner.name },
    isMasterToken: d.isMasterToken,
    masterRole: d.role ?? null,
    bucketPermissions: d.bucketPermissions,
    flags: d.flags,
    componentAccess: d.componentAccess,
    created: isoOrNull(d.created),
    refreshed: isoOrNull(d.refreshed),
    expires: isoOrNull(d.expires),
    daysLeft: daysLeft(d.expires, nowMs),
    lastActivity: activity,
    verdict:
      verdict.passes && d.expires === null
        ? { ...verdict, warnings: [...verdict.warnings, noExpiryWarning(role)] }
        : verdict,
  };
}

/** Human text of the report, one fact per line. */
export function formatInspectReport(report: InspectReport): string {
  const permissions = Object.entries(report.bucketPermissions);
  const flags = Object.entries(report.flags)
    .filter(([, on]) => on)
    .map(([name]) => name);
  const lines = [
    `${report.which === 'source' ? 'Source' : 'Destination'} token ${report.id} "${escapeForDisplay(report.description)}"`,
    `  project:       ${escapeForDisplay(report.project.name)} (${report.project.id})`,
    `  master token:  ${report.isMasterToken ? `yes${report.masterRole ? ` (role ${report.masterRole})` : ''}` : 'no'}`,
    `  buckets:       ${permissions.length === 0 ? 'none' : permissions.map(([b, p]) => `${b}: ${p}`).join(', ')}`,
    `  flags:         ${flags.length === 0 ? 'none' : flags.join(', ')}`,
    `  components:    ${report.componentAccess.length === 0 ? 'none' : report.componentAccess.map((c) => escapeForDisplay(c)).join(', ')}`,
    `  created:       ${report.created ?? 'unknown'}`,
    `  refreshed:     ${report.refreshed ?? 'unknown'}`,
    `  expires:       ${report.expires === null ? 'never' : `${report.expires} (${describeDaysLeft(report.daysLeft)})`}`,
    `  last activity: ${report.lastActivity ? `${report.lastActivity.at} (${report.lastActivity.event})` : 'none recorded'}`,
    `  verdict:       ${report.verdict.passes ? "passes the job's token rules" : `fails: ${report.verdict.error ?? ''}`}`,
    // A warning may quote a component id from the API: shown escaped, like the description.
    ...report.verdict.warnings.map((w) => `  warning:       ${escapeForDisplay(w)}`),
  ];
  return `${lines.join('\n')}\n`;
}

function describeDaysLeft(days: number | null): string {
  if (days === null) return 'unknown';
  if (days < 0) return 'expired';
  return days === 0 ? 'less than a day left' : `${days} whole day(s) left`;
}

function isoOf(timestamp: string): string {
  const ms = timestampMs(timestamp);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : timestamp;
}

function isoOrNull(timestamp: string | null): string | null {
  return timestamp === null ? null : isoOf(timestamp);
}
