#!/bin/sh
# The edu example driver, run in the guest: `npm run vm -- edu-example`.
exec node node_modules/tsx/dist/cli.mjs examples/edu/main.ts
