#!/usr/bin/env node
// Launcher: the CLI itself is compiled to dist/ (npm run build, run by npm install/ci via "prepare").
import('../dist/cli/main.js').then((cli) => cli.run());
