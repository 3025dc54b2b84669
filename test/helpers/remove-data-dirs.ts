/**
 * Vitest setup file (vitest.config.ts): after each test file, the data folders its tests made
 * with `makeDataDir` are removed, whether or not the file removed them itself.
 */
import { afterAll } from 'vitest';
import { removeMadeDataDirs } from './run-cli.js';

afterAll(removeMadeDataDirs);
