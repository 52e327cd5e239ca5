// Preloaded with `node --import`: records every module URL the process resolves into the file
// named by TB_TRACE_FILE, so tests can assert that a command never loads a database driver.
import { register } from 'node:module';
register('./trace-loads-hooks.mjs', import.meta.url, { data: { file: process.env.TB_TRACE_FILE } });
