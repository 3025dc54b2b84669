import { randomBytes } from 'node:crypto';

export type Provider = 'aws' | 'azure' | 'gcp';
export type CredentialMode = 'read' | 'write';

/** What a credential may touch. */
export interface CredentialScopeSpec {
  readonly provider: Provider;
  /** S3 bucket / Azure container / GCS bucket. */
  readonly bucket: string;
  /** Keys starting with this are allowed (or only this key when `exactKey`). */
  readonly keyPrefix: string;
  readonly exactKey: boolean;
  /** `read` allows GET/HEAD; `write` allows GET/HEAD/PUT (upload credentials can read back). */
  readonly mode: CredentialMode;
  /** Uploads must send the SSE header (S3 upload params with `x-amz-server-side-encryption`). */
  readonly requireSse: boolean;
  /**
   * `federation`: handed to the client as provider credentials (S3 keys, SAS, GCS token);
   * `signedUrl`: only signs a file detail's `url` (never valid as a GCS bearer token).
   */
  readonly purpose: 'federation' | 'signedUrl';
}

/** One issued credential. `id` is the lookup key: AWS access key id, Azure SAS nonce, GCS token. */
export interface IssuedCredential extends CredentialScopeSpec {
  readonly id: string;
  /** AWS secret access key / Azure SAS nonce / unused for GCS. */
  readonly secret: string;
  /** AWS session token; empty for the others. */
  readonly sessionToken: string;
  readonly issuedAtMs: number;
  /** Emulator-clock expiry; lowered by {@link CredentialRegistry.expireAll}. */
  expiresAtMs: number;
}

/** Why a credential does not allow an access, or undefined when it does. */
export type ScopeDenial = 'bucket' | 'key' | 'mode' | undefined;

/**
 * Issued object-store credentials, looked up by id. Ids and secrets are random; nothing here is
 * derived from the data it protects.
 */
export class CredentialRegistry {
  readonly #byId = new Map<string, IssuedCredential>();

  issue(spec: CredentialScopeSpec, nowMs: number, ttlSeconds: number): IssuedCredential {
    const credential: IssuedCredential = {
      ...spec,
      id: newId(spec.provider, spec.purpose),
      secret: randomBytes(30).toString('base64'),
      sessionToken: spec.provider === 'aws' ? randomBytes(96).toString('base64') : '',
      issuedAtMs: nowMs,
      expiresAtMs: nowMs + ttlSeconds * 1000,
    };
    this.#byId.set(credential.id, credential);
    return credential;
  }

  get(id: string): IssuedCredential | undefined {
    return this.#byId.get(id);
  }

  /** Makes `credential` findable under a second name too (an Azure SAS by its `sig`). */
  alias(name: string, credential: IssuedCredential): void {
    this.#byId.set(name, credential);
  }

  /** Every credential issued so far expires at `nowMs` (strictly: is expired from then on). */
  expireAll(nowMs: number): void {
    for (const credential of this.#byId.values()) {
      credential.expiresAtMs = Math.min(credential.expiresAtMs, nowMs - 1);
    }
  }
}

export function isExpired(credential: IssuedCredential, nowMs: number): boolean {
  return nowMs >= credential.expiresAtMs;
}

/** Checks bucket, key and mode of one access against a credential's scope. */
export function scopeDenial(
  credential: CredentialScopeSpec,
  bucket: string,
  key: string,
  write: boolean,
): ScopeDenial {
  if (credential.bucket !== bucket) return 'bucket';
  const keyOk = credential.exactKey
    ? key === credential.keyPrefix
    : key.startsWith(credential.keyPrefix);
  if (!keyOk) return 'key';
  if (write && credential.mode !== 'write') return 'mode';
  return undefined;
}

function newId(provider: Provider, purpose: CredentialScopeSpec['purpose']): string {
  if (provider === 'aws') return `ASIA${randomToken(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`;
  if (provider === 'gcp' && purpose === 'signedUrl') {
    return `GOOG1E${randomToken(24, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}`;
  }
  if (provider === 'gcp') return `ya29.${randomBytes(48).toString('base64url')}`;
  return randomBytes(18).toString('base64url');
}

function randomToken(length: number, alphabet: string): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}
