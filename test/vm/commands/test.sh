#!/bin/sh
# The guest test suite: vitest with test/vm/vitest.config.ts, run from the read-only repo
# share (cwd = repo root). Exits with vitest's status, which run.sh passes on.
#
# --configLoader runner: the default loader writes a bundled copy of the config next to it,
# which the read-only mount refuses (EROFS).
exec node node_modules/vitest/vitest.mjs run --config test/vm/vitest.config.ts --configLoader runner
