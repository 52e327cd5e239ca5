#!/usr/bin/env node
// Launcher: the CLI itself is compiled to dist/ (npm run build, run by npm install/ci via "prepare").
// `auto` first tries its nothing-to-do shortcut (dist/cli/fast-auto.bundle.js: one file, no
// Commander, no other command); whenever it declines, the full CLI runs.
const shortcut =
  process.argv[2] === 'auto'
    ? import('../dist/cli/fast-auto.bundle.js').catch(() => import('../dist/cli/fast-auto.js')).then((fast) => fast.runFastAuto(process.argv))
    : Promise.resolve(false);
shortcut.then((handled) => handled || import('../dist/cli/main.js').then((cli) => cli.run()));
