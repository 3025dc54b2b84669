/**
 * The one list of sync actions (docs/sync-actions.md): the CLI, the config parser, the action
 * runner and component.json (checked by a test) all read it. Pure.
 */
import { hideTokenShapes } from '../secrets.js';

export const SYNC_ACTIONS = [
  'list',
  'info',
  'sourceInfo',
  'testConnection',
  'plan',
  'tableOptions',
  'columnOptions',
] as const;
export type SyncAction = (typeof SYNC_ACTIONS)[number];

/** One line per action, for `action --help` and the unknown-action message. */
export const SYNC_ACTION_DESCRIPTIONS: Readonly<Record<SyncAction, string>> = {
  list: 'tables of the source bucket with their primary keys (ex-storage)',
  info: 'source project and bucket (ex-storage)',
  sourceInfo: 'list and info together (ex-storage)',
  testConnection: 'checks the source token: {"status","type","message","lastActivity"}',
  plan: 'what a run would copy, without writing anything',
  tableOptions: 'the tables of the source bucket as [{"value","label"}] for the UI',
  columnOptions: 'the columns of the row\'s tableName as [{"value","label"}] for the UI',
};

/** Every action a configuration may name: the run plus the sync actions. */
export const ACTIONS = ['run', ...SYNC_ACTIONS] as const;

export function isSyncAction(name: string): name is SyncAction {
  return (SYNC_ACTIONS as readonly string[]).includes(name);
}

/**
 * The sentence for an action name that is not one of {@link ACTIONS}. The name is cut to 40
 * characters after token shapes are hidden; the caller masks registered secrets first.
 */
export function unknownActionMessage(name: string, choices: readonly string[] = ACTIONS): string {
  const shown = hideTokenShapes(name).slice(0, 40);
  return `Unknown action ${JSON.stringify(shown)}: use one of ${choices.join(', ')}.`;
}
