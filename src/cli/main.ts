#!/usr/bin/env node
/** The `vfio` bin: `npx vfio doctor`. Everything lives in run.ts; this only wires the process in. */
import { run } from './run.js';

// `vfio ls | head` closes the pipe early: end quietly instead of with an EPIPE trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
