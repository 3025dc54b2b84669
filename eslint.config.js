// Type-checked lint over every TypeScript file; Prettier owns formatting.
import js from '@eslint/js';
import vitest from '@vitest/eslint-plugin';
import tseslint from 'typescript-eslint';

/** Module specifiers of the emulator package, its sources, or its DuckDB engine. */
const EMULATOR_IMPORT = /^keboola-storage-emulator(\/|$)|(^|\/)emulator(\/|$)|^@duckdb\//;
const EMULATOR_IMPORT_MESSAGE =
  'The job never imports the emulator: it is a test double in its own package (emulator/).';

/** Only the composition root touches `process` (docs/architecture.md, Pipeline). */
const PROCESS_MESSAGE =
  'Only src/main.ts touches process: take what it needs as a parameter (docs/architecture.md, Pipeline).';
const PROCESS_IMPORTS = ['node:process', 'process'].map((name) => ({
  name,
  message: PROCESS_MESSAGE,
}));

/**
 * The job's layers, bottom to top (docs/architecture.md, Layers). A module may import its own
 * folder and any lower layer, never its own layer's other modules or a higher layer. Names ending
 * in `/` are folders of `src/`, the others files of `src/`. No job module imports the emulator
 * (EMULATOR_IMPORT below), whatever its layer.
 */
export const LAYERS = [
  ['errors.ts', 'secrets.ts', 'text/', 'limits.ts', 'log/', 'node-http.ts'],
  ['logger.ts', 'config/', 'fs-errors.ts'],
  ['retry/'],
  ['storage/'],
  ['objects/', 'auth/', 'plan/', 'lock/', 'state/'],
  ['transfer/', 'tokens/'],
  ['progress/', 'output/'],
  ['run.ts'],
  ['actions/', 'summary.ts', 'cli.ts'],
  ['summary-file.ts', 'env-knobs.ts', 'early-signals.ts'],
  ['main.ts'],
];

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const importName = (module) =>
  module.endsWith('/') ? `${escape(module.slice(0, -1))}/` : `${escape(module.slice(0, -3))}\\.js$`;

/** One `no-restricted-imports` block per module: the modules it may not import. */
function layerRules() {
  const blocks = [];
  LAYERS.forEach((layer, rank) => {
    const above = LAYERS.slice(rank + 1).flat();
    for (const module of layer) {
      const forbidden = [...above, ...layer.filter((m) => m !== module)];
      const folder = module.endsWith('/');
      const prefix = folder ? '^(?:\\.\\./)+' : '^\\./';
      blocks.push({
        files: [folder ? `src/${module}**/*.ts` : `src/${module}`],
        rules: {
          'no-restricted-imports': [
            'error',
            {
              // A later block's no-restricted-imports replaces an earlier one, so every layer
              // block but the composition root's repeats the ban on importing `process`.
              ...(module === 'main.ts' ? {} : { paths: PROCESS_IMPORTS }),
              patterns: [
                ...(forbidden.length > 0
                  ? [
                      {
                        regex: `${prefix}(?:${forbidden.map(importName).join('|')})`,
                        message: `${module} may import only lower layers (LAYERS in eslint.config.js, docs/architecture.md).`,
                      },
                    ]
                  : []),
                // A later block's no-restricted-imports replaces an earlier one, so every layer
                // block repeats the emulator boundary.
                { regex: EMULATOR_IMPORT.source, message: EMULATOR_IMPORT_MESSAGE },
              ],
            },
          ],
        },
      });
    }
  });
  return blocks;
}

export default tseslint.config(
  {
    ignores: [
      'dist/',
      '**/dist/',
      '.build/',
      'coverage/',
      '**/node_modules/',
      'bench/results/',
      'data/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // The boundary: the job (src/) never imports the emulator, a test double in its own workspace
  // package (emulator/), nor its engine. test/unit/lint-boundary.test.ts proves this fails.
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: PROCESS_IMPORTS,
          patterns: [{ regex: EMULATOR_IMPORT.source, message: EMULATOR_IMPORT_MESSAGE }],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: `ImportExpression[source.value=${String(EMULATOR_IMPORT)}]`,
          message: EMULATOR_IMPORT_MESSAGE,
        },
      ],
    },
  },
  // After the boundary block: each layer block restates the boundary with its own layer rule.
  ...layerRules(),
  // Only the composition root touches `process` (argv, env, streams, signals, the exit code);
  // every other module takes what it needs as a parameter. test/unit/lint/process.test.ts proves
  // this fails.
  // src/early-signals.ts is the one exception: it installs the first signal handlers, and it
  // must run before main.ts's own code (which runs after every module it imports).
  {
    files: ['src/**/*.ts'],
    ignores: ['src/main.ts', 'src/early-signals.ts'],
    rules: {
      'no-restricted-globals': ['error', { name: 'process', message: PROCESS_MESSAGE }],
      'no-restricted-properties': [
        'error',
        { object: 'globalThis', property: 'process', message: PROCESS_MESSAGE },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'emulator/test/**/*.ts'],
    plugins: { vitest },
    rules: {
      ...vitest.configs.recommended.rules,
      '@typescript-eslint/no-non-null-assertion': 'off',
      // expect(value, message) names the failing run's stderr in assertions.
      'vitest/valid-expect': ['error', { maxArgs: 2 }],
      // Shared assertion helpers are named expect… (expectNoSecrets, expectContained).
      'vitest/expect-expect': ['error', { assertFunctionNames: ['expect', 'expect*'] }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
