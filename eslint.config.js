// ESLint (flat config): typescript-eslint's recommended rules over every source file; formatting is
// Prettier's (eslint-config-prettier, last, turns off the rules it owns). `npm run lint` runs both.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: {
      // A leading `_` marks a deliberately unused name (an interface's parameter, a loop's step, a dropped property).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // Archive names, identifiers and terminal output are checked for control characters (and ANSI escapes) on purpose.
      'no-control-regex': 'off',
    },
  },
  prettier,
);
