/**
 * Renders src/backend/allowlist.ts as native/allowlist.gen.h, the table ioctl.cc
 * enforces, so the shim and the fake kernel cannot disagree on which request is
 * allowed on which fd, how its argument is passed, or how big it must be; and the
 * constants of the one request the shim builds itself (bind.cc).
 * The header is committed so that an install from the tarball (node-gyp) and the
 * cmake-js build need no generation step; test/unit/allowlist-header.test.ts
 * fails when it is stale. Regenerate with `npm run gen:allowlist`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ALLOWED_IOCTLS, BIND_IOMMUFD, type ArgKind, type FdKind } from '../src/backend/allowlist.js';

export const HEADER_PATH = fileURLToPath(new URL('./allowlist.gen.h', import.meta.url));
export const REGENERATE = 'npm run gen:allowlist';

const FD_KIND: Record<FdKind, string> = {
  container: 'FdKind::kContainer',
  group: 'FdKind::kGroup',
  device: 'FdKind::kDevice',
  iommufd: 'FdKind::kIommufd',
};
const ARG: Record<ArgKind, string> = {
  none: 'Arg::kNone',
  value: 'Arg::kValue',
  intptr: 'Arg::kIntPtr',
  argsz: 'Arg::kArgsz',
};

const hex = (n: number) => `0x${n.toString(16)}`;

export function renderAllowlistHeader(): string {
  const rows = ALLOWED_IOCTLS.map((a) => {
    // A name is pasted into C source: allow only what an identifier can hold.
    if (!/^[A-Z][A-Z0-9_]*$/.test(a.name)) throw new Error(`gen-allowlist: bad request name ${JSON.stringify(a.name)}`);
    if (!Number.isInteger(a.number) || a.number < 0 || a.number > 0xffffffff) throw new Error(`gen-allowlist: ${a.name}: bad number`);
    const flags = a.flagsAllowed === undefined ? 'kAnyFlags' : hex(a.flagsAllowed >>> 0);
    if (a.countAt !== undefined && !(a.countAt >= 8 && a.countAt + 4 <= a.minsz && a.elemSize && a.elemSize > 0))
      throw new Error(`gen-allowlist: ${a.name}: bad counted array`);
    return `    {${FD_KIND[a.kind]}, ${hex(a.number)}ul, "${a.name}", ${ARG[a.arg]}, ${a.minsz}, ${flags}, ${a.countAt ?? 0}, ${a.elemSize ?? 0}},`;
  });
  return [
    `// Generated from src/backend/allowlist.ts by native/gen-allowlist.ts. Do not edit:`,
    `// change the TypeScript table and run \`${REGENERATE}\`.`,
    `#pragma once`,
    ``,
    `#include "allowlist.h"`,
    ``,
    `namespace vfio {`,
    ``,
    `inline constexpr Request kRequests[] = {`,
    ...rows,
    `};`,
    ``,
    `// VFIO_DEVICE_BIND_IOMMUFD, which bind.cc builds itself; its argsz is kBindMinsz without a`,
    `// token (the struct before 6.17) and kBindSize with one.`,
    `inline constexpr unsigned long kBindIommufd = ${hex(BIND_IOMMUFD.number)}ul;`,
    `inline constexpr uint32_t kBindFlagToken = ${hex(BIND_IOMMUFD.flagToken)};`,
    `inline constexpr uint32_t kBindMinsz = ${BIND_IOMMUFD.minsz};`,
    `inline constexpr uint32_t kBindSize = ${BIND_IOMMUFD.size};`,
    ``,
    `}  // namespace vfio`,
    ``,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(HEADER_PATH, renderAllowlistHeader());
  console.log(`wrote ${HEADER_PATH}`);
}
