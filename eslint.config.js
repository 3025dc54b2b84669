// Type-checked lint over every TypeScript file; Prettier owns formatting.
import js from '@eslint/js';
import vitest from '@vitest/eslint-plugin';
import tseslint from 'typescript-eslint';

/** Module specifiers of the emulator package, its sources, or its DuckDB engine. */
const EMULATOR_IMPORT = /^keboola-storage-emulator(\/|$)|(^|\/)emulator(\/|$)|^@duckdb\//;
const EMULATOR_IMPORT_MESSAGE =
  'The job never imports the emulator: it is a test double in its own package (emulator/).';

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
        { patterns: [{ regex: EMULATOR_IMPORT.source, message: EMULATOR_IMPORT_MESSAGE }] },
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
  {
    files: ['test/**/*.ts', 'emulator/test/**/*.ts'],
    plugins: { vitest },
    rules: {
      ...vitest.configs.recommended.rules,
      '@typescript-eslint/no-non-null-assertion': 'off',
      // expect(value, message) names the failing run's stderr in assertions.
      'vitest/valid-expect': ['error', { maxArgs: 2 }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
