#!/usr/bin/env node
// Runs the compiled CLI; `npm ci` builds dist/ through the prepare script.
process.exitCode = require('../dist/cli/main.js').run(process.argv.slice(2));
