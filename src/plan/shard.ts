import { UserError } from '../errors.js';

/**
 * One part of a fan-out (docs/scaling.md): this run copies the tables whose
 * `fnv1a32(source table id) % count === index`. The index is 0-based, the form of a Kubernetes
 * Indexed Job's `JOB_COMPLETION_INDEX`.
 */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/**
 * Parses `--shard INDEX/COUNT` (pure).
 * @throws UserError naming the flag and what is wrong with its value
 */
export function parseShard(text: string): Shard {
  const shown = JSON.stringify(text.slice(0, 40));
  const match = /^(\d{1,9})\/(\d{1,9})$/.exec(text.trim());
  if (!match) {
    throw new UserError(
      `--shard ${shown} is not of the form INDEX/COUNT with whole numbers, such as 0/3 (INDEX counts from 0).`,
    );
  }
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (count < 1) throw new UserError(`--shard ${shown}: COUNT must be at least 1.`);
  if (index >= count) {
    throw new UserError(
      `--shard ${shown}: INDEX must be below COUNT, as shards are numbered from 0 to ${count - 1}.`,
    );
  }
  return { index, count };
}

/**
 * FNV-1a, 32 bits, over the UTF-8 bytes of `text` (pure): offset basis 2166136261, prime 16777619,
 * for each byte `hash = (hash XOR byte) * prime mod 2^32`. Stable across versions, platforms and
 * languages, so any tool can tell which shard copies a table.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** Whether this shard copies the table with this source id (pure). */
export function inShard(sourceTableId: string, shard: Shard): boolean {
  return fnv1a32(sourceTableId) % shard.count === shard.index;
}

/** `2/3`, as messages show it. */
export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}
