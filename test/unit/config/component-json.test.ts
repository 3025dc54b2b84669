import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import component from '../../../component.json' with { type: 'json' };
import packageJson from '../../../package.json' with { type: 'json' };
import { SYNC_ACTIONS } from '../../../src/config/action-names.js';
import {
  DEFAULT_LAG_SECONDS,
  DEFAULT_PARALLELISM,
  EX_STORAGE_KEYS,
  IGNORED_UI_KEYS,
  PARAMETER_KEYS,
  parseConfig,
  runnerDefaultBucket,
} from '../../../src/config/parse-config.js';
import { REGIONS } from '../../../src/config/regions.js';

/** Row-form keys beyond ex-storage's: `destination` (a string here), `columns`, `enabled`. */
const ROW_EXTRA_KEYS = ['destination', 'columns', 'enabled'] as const;

interface SchemaProperty {
  readonly type?: string;
  readonly title?: string;
  readonly propertyOrder?: number;
  readonly format?: string;
  readonly enum?: readonly string[];
  readonly options?: { readonly async?: { readonly action?: string; readonly autoload?: unknown } };
}
interface IntegerProperty {
  readonly type: string;
  readonly default: number;
  readonly minimum: number;
  readonly maximum: number;
}
interface ObjectSchema {
  readonly required: readonly string[];
  readonly properties: Readonly<Record<string, SchemaProperty>>;
}

const schemas: [string, ObjectSchema][] = [
  ['configurationSchema', component.configurationSchema as ObjectSchema],
  ['configurationRowSchema', component.configurationRowSchema],
];

/** Properties that hold a value (a button only triggers a sync action). */
const valueKeys = (schema: ObjectSchema) =>
  Object.entries(schema.properties)
    .filter(([, property]) => property.type !== 'button')
    .map(([key]) => key);

/** PHP `array_replace_recursive`, as the job runner merges a row onto the root configuration. */
function replaceRecursive(base: unknown, override: unknown): unknown {
  const isMap = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null;
  if (!isMap(base) || !isMap(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override))
    merged[key] = replaceRecursive(merged[key], value);
  return Array.isArray(base) && Array.isArray(override) ? Object.values(merged) : merged;
}

const filledRoot = replaceRecursive(component.emptyConfiguration, {
  parameters: { '#token': '2134-88291-mCkuU3xgVqLzAbcdef', region: 'eu-central-1' },
});

describe('component.json', () => {
  it('has the identity and runtime settings of an extractor', () => {
    expect(component).toMatchObject({ id: 'keboola.ex-table-sync', type: 'extractor' });
    expect(component.uiOptions).toEqual(
      expect.arrayContaining([
        // The parameters form, and rows on top of it, as Keboola's row-based components list them.
        'genericDockerUI',
        'genericDockerUI-rows',
        'genericDockerUI-resetState',
        'appInfo.dataIn',
      ]),
    );
    expect(component.data).toMatchObject({
      definition: { type: 'aws-ecr', tag: packageJson.version },
      logging: {
        type: 'gelf',
        gelf_server_type: 'tcp',
        // Debug records are sent only when debug is on; the default (none) would drop them.
        verbosity: { 100: 'normal', 200: 'normal', 300: 'normal', 400: 'normal' },
      },
      network: 'bridge',
      default_bucket: true,
      default_bucket_stage: 'in',
      forward_token: false,
      staging_storage: { input: 'local', output: 'local' },
    });
  });

  it('registers exactly the sync actions the job implements', () => {
    expect(component.actions).toEqual([...SYNC_ACTIONS]);
    expect(component.data.synchronous_actions).toEqual([...SYNC_ACTIONS]);
  });

  it('tags a semver release and links its documentation, licence and source', () => {
    expect(component.data.definition.tag).toMatch(/^\d+\.\d+\.\d+$/);
    expect(component.documentationUrl).toMatch(/^https:\/\//);
    expect(component.sourceCodeUrl).toBe(packageJson.repository.url);
    expect(component.licenseUrl).toMatch(/\/LICENSE$/);
    const licence = readFileSync(new URL('../../../LICENSE', import.meta.url), 'utf8');
    expect(packageJson.license).toBe('MIT');
    expect(licence).toMatch(/^MIT License/);
  });

  it('row schema describes one table: the ex-storage row form plus destination, columns, enabled', () => {
    expect(Object.keys(component.configurationRowSchema.properties).sort()).toEqual(
      [...EX_STORAGE_KEYS, ...ROW_EXTRA_KEYS].sort(),
    );
  });

  it.each(schemas)('%s only has parameter keys parseConfig knows', (_name, schema) => {
    for (const key of Object.keys(schema.properties)) {
      expect([...PARAMETER_KEYS, ...IGNORED_UI_KEYS] as readonly string[]).toContain(key);
    }
  });

  it.each(schemas)(
    '%s: every options.async.action is a registered sync action',
    (_name, schema) => {
      const actions = Object.values(schema.properties).flatMap((property) =>
        property.options?.async?.action ? [property.options.async.action] : [],
      );
      for (const action of actions) expect(SYNC_ACTIONS as readonly string[]).toContain(action);
      expect(actions.length).toBeGreaterThan(0);
    },
  );

  it('wires the pickers and the button to the actions that feed them', () => {
    const root = component.configurationSchema.properties as Record<string, SchemaProperty>;
    const row = component.configurationRowSchema.properties as Record<string, SchemaProperty>;
    expect(root.test_connection?.options?.async?.action).toBe('testConnection');
    expect(row.tableName?.options?.async?.action).toBe('tableOptions');
    for (const key of ['primaryKey', 'columns']) {
      expect(row[key]?.options?.async).toEqual(
        expect.objectContaining({ action: 'columnOptions', autoload: ['parameters.tableName'] }),
      );
    }
  });

  it.each(schemas)(
    '%s lists every property in required, with a propertyOrder and a short title',
    (_name, schema) => {
      const keys = valueKeys(schema);
      expect([...schema.required].sort()).toEqual([...keys].sort());
      for (const property of Object.values(schema.properties)) {
        expect(property.propertyOrder).toBeTypeOf('number');
        expect(property.title).toMatch(/^[^:.]{1,30}[^:.\s]$/);
      }
      const orders = Object.values(schema.properties).map((property) => property.propertyOrder);
      expect(new Set(orders).size).toBe(orders.length);
    },
  );

  it.each(schemas)('%s hides every # value as a password', (_name, schema) => {
    for (const [key, property] of Object.entries(schema.properties)) {
      if (key.startsWith('#')) expect(property.format).toBe('password');
    }
  });

  it('offers every region, plus an empty choice for a custom URL', () => {
    const choices = component.configurationSchema.properties.region.enum;
    expect(choices).toEqual(['', ...REGIONS.map((region) => region.id)]);
    expect(component.configurationSchema.properties.region.options.enum_titles).toHaveLength(
      choices.length,
    );
  });

  it('emptyConfigurationRow merged onto a filled root parses for the sync actions', () => {
    const merged = replaceRecursive(filledRoot, component.emptyConfigurationRow);
    const result = parseConfig({ ...(merged as object), action: 'list' });
    expect(result.ok).toBe(true);
  });

  it('a filled row merged onto the root parses for run', () => {
    const row = replaceRecursive(component.emptyConfigurationRow, {
      parameters: { tableName: 'orders', changedSince: '-1 day', primaryKey: ['id'] },
    });
    const result = parseConfig({ ...(replaceRecursive(filledRoot, row) as object), action: 'run' });
    expect(result).toMatchObject({
      ok: true,
      config: {
        tables: [{ name: 'orders', primaryKey: ['id'], incremental: false, enabled: true }],
      },
    });
  });

  it('a row with destination, columns and enabled set parses, as do the column pickers', () => {
    const row = replaceRecursive(component.emptyConfigurationRow, {
      parameters: {
        tableName: 'orders',
        primaryKey: ['id'],
        columns: ['id', 'amount'],
        destination: 'orders_copy',
        enabled: false,
      },
    });
    const merged = replaceRecursive(filledRoot, row) as object;
    expect(parseConfig({ ...merged, action: 'run' })).toMatchObject({
      ok: true,
      config: {
        tables: [
          { name: 'orders', destination: 'orders_copy', columns: ['id', 'amount'], enabled: false },
        ],
      },
    });
    expect(parseConfig({ ...merged, action: 'columnOptions' }).ok).toBe(true);
  });

  it('offers each changedSince preset as a value the parser accepts', () => {
    const presets = component.configurationRowSchema.properties.changedSince.examples;
    expect(presets).toContain('lastRun');
    for (const preset of presets) {
      const row = replaceRecursive(component.emptyConfigurationRow, {
        parameters: { tableName: 'orders', changedSince: preset },
      });
      expect(
        parseConfig({ ...(replaceRecursive(filledRoot, row) as object), action: 'run' }).ok,
      ).toBe(true);
    }
  });

  it.each([
    ['lagSeconds', DEFAULT_LAG_SECONDS],
    ['parallelism', DEFAULT_PARALLELISM],
  ] as const)(
    'the root form offers %s with the default and the bounds the parser applies',
    (key, parserDefault) => {
      const field: IntegerProperty = component.configurationSchema.properties[key];
      expect(field).toMatchObject({ type: 'integer', default: parserDefault });
      const { minimum, maximum } = field;
      const parse = (value: unknown) =>
        parseConfig({
          ...(replaceRecursive(filledRoot, { parameters: { [key]: value } }) as object),
          action: 'testConnection',
        });
      for (const value of [minimum, maximum]) {
        expect(parse(value)).toMatchObject({ ok: true, config: { [key]: value } });
      }
      for (const value of [minimum - 1, maximum + 1]) {
        const result = parse(value);
        expect(result.ok ? [] : result.problems.join(' ')).toContain(`parameters.${key}`);
      }
      expect(component.emptyConfiguration.parameters).toMatchObject({ [key]: parserDefault });
      // The form's number editor saves a cleared field as "": the default applies.
      expect(parse('')).toMatchObject({ ok: true, config: { [key]: parserDefault } });
    },
  );

  it('the empty configuration asks for the token and the stack', () => {
    const result = parseConfig({ ...component.emptyConfiguration, action: 'testConnection' });
    expect(result.ok ? [] : result.problems.map((problem) => problem.split(':')[0])).toEqual([
      'parameters.#token',
      'parameters.region',
    ]);
  });
});

describe('component.json: the default bucket', () => {
  it('has the stage and id the recorded destination of a short name assumes', () => {
    const data = component.data as { default_bucket?: boolean; default_bucket_stage?: string };
    expect(data.default_bucket).toBe(true);
    expect(runnerDefaultBucket({ KBC_COMPONENTID: component.id, KBC_CONFIGID: '7' })).toBe(
      `${data.default_bucket_stage ?? 'in'}.c-keboola-ex-table-sync-7`,
    );
  });
});

/**
 * The forms as JSON Schema (ajv): every value the forms can hold is one the parser takes. The
 * dynamic selects' `enum: []` is filled by the sync actions at run time, and `type: "button"` is
 * the UI's own (a button holds no value), so both are left out here.
 */
describe('component.json: the schemas validate what the parser takes', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const withoutEmptyEnums = (schema: unknown): unknown =>
    JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
      (key === 'enum' && Array.isArray(value) && value.length === 0) ||
      (key === 'type' && value === 'button')
        ? undefined
        : value,
    );
  const validateRoot = ajv.compile(withoutEmptyEnums(component.configurationSchema) as object);
  const validateRow = ajv.compile(withoutEmptyEnums(component.configurationRowSchema) as object);

  it('the default configuration and row are valid form values', () => {
    expect(
      validateRoot(component.emptyConfiguration.parameters),
      ajv.errorsText(validateRoot.errors),
    ).toBe(true);
    expect(
      validateRow(component.emptyConfigurationRow.parameters),
      ajv.errorsText(validateRow.errors),
    ).toBe(true);
  });

  const rootParameters = component.configurationSchema.properties.region.enum.map((region) => ({
    ...component.emptyConfiguration.parameters,
    '#token': '2134-88291-mCkuU3xgVqLzAbcdef',
    region,
    url: region === '' ? 'https://connection.keboola.com' : '',
  }));
  it.each(rootParameters.map((parameters) => [parameters.region || 'Custom URL', parameters]))(
    'a root form with the stack %s is valid and runs a sync action',
    (_stack, parameters) => {
      expect(validateRoot(parameters), ajv.errorsText(validateRoot.errors)).toBe(true);
      expect(parseConfig({ parameters, action: 'testConnection' })).toMatchObject({ ok: true });
    },
  );

  it('every row the form can hold (each changedSince preset, flag, key and column choice) is valid and runs', () => {
    const presets = component.configurationRowSchema.properties.changedSince.examples;
    const flags = [true, false];
    let rows = 0;
    for (const changedSince of presets)
      for (const incremental of flags)
        for (const fullSync of flags)
          for (const primaryKey of [[], ['id']])
            for (const columns of [[], ['id', 'amount']])
              for (const destination of ['', 'orders_copy']) {
                const row = {
                  ...component.emptyConfigurationRow.parameters,
                  tableName: 'orders',
                  changedSince,
                  incremental,
                  fullSync,
                  primaryKey,
                  columns,
                  destination,
                };
                expect(validateRow(row), ajv.errorsText(validateRow.errors)).toBe(true);
                const merged = replaceRecursive(filledRoot, { parameters: row }) as object;
                const parsed = parseConfig({ ...merged, action: 'run' });
                expect(parsed.ok ? [] : parsed.problems, JSON.stringify(row)).toEqual([]);
                rows += 1;
              }
    expect(rows).toBe(presets.length * 32);
  });
});
