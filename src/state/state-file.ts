import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describeFsError } from '../output/data-dir-check.js';
import type { TableState } from './cursor.js';

/** The job's part of the component state: per source table id. Other keys are carried through. */
export interface JobState {
  readonly tables: Readonly<Record<string, TableState>>;
  readonly [key: string]: unknown;
}

/**
 * Reads `<dataDir>/in/state.json`. A missing file, `{}` or `[]` is an empty state; entries that
 * are not objects are dropped (a hand-edited state must not crash the run).
 */
export async function readState(dataDir: string): Promise<JobState> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(dataDir, 'in', 'state.json'), 'utf8'));
  } catch {
    return { tables: {} };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { tables: {} };
  const record = raw as Record<string, unknown>;
  return { ...record, tables: tableEntries(record.tables) };
}

function tableEntries(value: unknown): Record<string, TableState> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const out: Record<string, TableState> = {};
  for (const [id, entry] of Object.entries(value)) {
    if (entry && typeof entry === 'object' && !Array.isArray(entry)) out[id] = entry as TableState;
  }
  return out;
}

/**
 * Writes `<dataDir>/out/state.json` atomically (temp file, then rename). Temp files a killed run
 * left (`state.json.tmp-*`) are removed first; their names are returned so the run can say so.
 * A failed write removes its own temp file and throws one sentence naming the path.
 */
export async function writeState(dataDir: string, state: JobState): Promise<string[]> {
  const path = join(dataDir, 'out', 'state.json');
  await mkdir(dirname(path), { recursive: true });
  const leftovers = (await readdir(dirname(path))).filter((name) =>
    name.startsWith('state.json.tmp-'),
  );
  for (const name of leftovers) await rm(join(dirname(path), name), { force: true });
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw describeFsError(error, `The state file ${path} cannot be written`) ?? error;
  }
  return leftovers;
}
