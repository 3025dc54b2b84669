// Type-checked lint over every TypeScript file; Prettier owns formatting.
import js from '@eslint/js';
import vitest from '@vitest/eslint-plugin';
import tseslint from 'typescript-eslint';

/**
 * The job's layers, bottom to top (docs/architecture.md, Layers). A module may import its own
 * folder and any lower layer, never its own layer's other modules or a higher layer. Names ending
 * in `/` are folders of `src/`, the others files of `src/`. The emulator is a program of its own:
 * no job module imports it (main.ts loads it on demand; demo.ts starts it).
 */
export const LAYERS = [
  ['errors.ts', 'secrets.ts'],
  ['logger.ts', 'config/'],
  ['retry/'],
  ['storage/', 'state/'],
  ['objects/', 'auth/', 'plan/'],
  ['transfer/'],
  ['progress/', 'output/'],
  ['run.ts'],
  ['actions/', 'summary.ts', 'cli.ts'],
  ['main.ts', 'demo.ts'],
];

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const importName = (module) =>
  module.endsWith('/') ? `${escape(module.slice(0, -1))}/` : `${escape(module.slice(0, -3))}\\.js$`;

/** One `no-restricted-imports` block per module: the modules it may not import. */
function layerRules() {
  const blocks = [];
  LAYERS.forEach((layer, rank) => {
    const above = LAYERS.slice(rank + 1).flat();
    const top = rank === LAYERS.length - 1;
    for (const module of layer) {
      const forbidden = [
        ...above,
        ...layer.filter((m) => m !== module),
        ...(top ? [] : ['emulator/']),
      ];
      if (forbidden.length === 0) continue;
      const folder = module.endsWith('/');
      const prefix = folder ? '^(?:\\.\\./)+' : '^\\./';
      blocks.push({
        files: [folder ? `src/${module}**/*.ts` : `src/${module}`],
        rules: {
          'no-restricted-imports': [
            'error',
            {
              patterns: [
                {
                  regex: `${prefix}(?:${forbidden.map(importName).join('|')})`,
                  message: `${module} may import only lower layers (LAYERS in eslint.config.js, docs/architecture.md).`,
                },
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
  ...layerRules(),
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
