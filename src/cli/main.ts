#!/usr/bin/env node
/** The `vfio` bin: `npx vfio doctor`. Everything lives in run.ts; this only wires the process in. */
import { run } from './run.js';

// `vfio ls | head` closes the pipe early: end quietly instead of with an EPIPE trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

// Ctrl-C stops a running app (`vfio net …`), which then prints its summary; a second one
// kills the process as usual (once: the default handler is back).
const interrupted = new AbortController();
const stop = (): void => interrupted.abort();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupted.signal });
process.off('SIGINT', stop);
process.off('SIGTERM', stop);
