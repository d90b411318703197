// Cross-checks every constant and struct layout in src/uapi against the C
// compiler's reading of the installed kernel headers (<linux/vfio.h>,
// <linux/pci_regs.h>), via the probe in fixtures/uapi-probe.c.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as uapi from '../../src/uapi/index.js';
import { Struct } from '../../src/uapi/index.js';

interface ProbeStruct {
  sizeof: number;
  fields: Record<string, [offset: number, size: number, signed: 0 | 1]>;
  flex?: Record<string, number>;
}

interface Probe {
  consts: Record<string, number>;
  structs: Record<string, ProbeStruct>;
}

// The iommufd/cdev uAPI (6.2+/6.6+): absent from Debian 12's 6.1 headers, so checked only
// when the headers have it -- `npm run test:vm` runs this file again against the custom
// kernels' (6.12's and the backports one's, VFIO_UAPI_INCLUDE, see test/vm/run-all.sh), where
// every name must be probed.
const IOMMUFD_NAME = /^(IOMMU(FD)?_|iommu_|VFIO_DEVICE_(BIND|ATTACH|DETACH)_IOMMUFD|vfio_device_(bind|attach|detach)_iommufd|VFIO_PCI_HOT_RESET_FLAG_DEV_ID)/;
const include = process.env.VFIO_UAPI_INCLUDE;

// Defined in TypeScript but not checkable against the 6.1 headers. The
// probe prints the newer ones under #ifdef, so newer headers still check them.
const TS_ONLY: ReadonlyMap<string, string> = new Map([
  ['VFIO_DEVICE_FLAGS_CDX', 'newer than 6.1'],
  ['PCI_HEADER_TYPE_MFD', 'newer than 6.1'],
  ['PCI_EXT_CAP_ID_PL_32GT', 'newer than 6.1'],
  ['UUID_SIZE', 'the kernel\'s <linux/uuid.h>, not a uAPI header'],
  ['UUID_STRING_LEN', 'the kernel\'s <linux/uuid.h>, not a uAPI header'],
  ['VFIO_PCI_OFFSET_SHIFT', 'vfio-pci implementation detail, not in any uAPI header'],
  ['PCI_VENDOR_ID_REDHAT_QUMRANET', "include/linux/pci_ids.h: the kernel's own, not a uAPI header"],
  ['VFIO_DEVICE_BIND_FLAG_TOKEN', 'newer than 6.12 (6.17)'],
]);

// Names later headers dropped (the kernel no longer offers them): checked where the headers
// have them, passed over where they do not.
const REMOVED_LATER: ReadonlyMap<string, string> = new Map([['VFIO_TYPE1_NESTING_IOMMU', 'gone after Linux 6.12']]);

// Fields a struct gained after the headers the probe may be built against (`struct.field`):
// headers that lack one end the struct where it starts; headers that have it check it.
const NEWER_FIELDS: ReadonlyMap<string, string> = new Map([['vfio_device_bind_iommufd.token_uuid_ptr', 'Linux 6.17+']]);

// Compiled while the suite is collected so each constant and field gets its own named test.
function runProbe(): Probe {
  const src = fileURLToPath(new URL('./fixtures/uapi-probe.c', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'vfio-uapi-probe-'));
  try {
    const exe = join(dir, 'probe');
    const inc = include ? ['-I', include] : [];
    execFileSync('cc', ['-std=gnu11', '-Wall', '-Werror', ...inc, '-o', exe, src], { stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as Probe;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const probe = runProbe();
const exported = uapi as unknown as Record<string, unknown>;

const hasIommufd = 'IOMMU_IOAS_ALLOC' in probe.consts;
const newerThanHeaders = (name: string) => !hasIommufd && IOMMUFD_NAME.test(name);
const tsStructs = Object.values(exported).filter((v): v is Struct => v instanceof Struct && !newerThanHeaders(v.name));

// Kernel-fact constants are the numeric exports spelled like C macros.
const tsConsts = Object.entries(exported).filter(
  ([name, v]) => /^(VFIO|PCI|IOMMU|IOMMUFD)_[A-Za-z0-9_]+$/.test(name) && typeof v === 'number' && !newerThanHeaders(name),
);

describe('constants match the headers', () => {
  it.each(Object.entries(probe.consts))('%s = %d', (name, value) => {
    expect(exported[name], `${name} as exported by src/uapi`).toBe(value);
  });
});

describe('coverage', () => {
  it('the probe checks a substantial set of constants', () => {
    expect(Object.keys(probe.consts).length).toBeGreaterThan(200);
  });

  it('every exported VFIO_/PCI_ number is either probed or listed as TS-only', () => {
    const unchecked = tsConsts.map(([n]) => n).filter((n) => !(n in probe.consts) && !TS_ONLY.has(n) && !REMOVED_LATER.has(n));
    expect(unchecked).toEqual([]);
  });

  // Registered only when headers are named, so no run counts a skipped case.
  if (include !== undefined)
    it(`the headers in VFIO_UAPI_INCLUDE (${include}) have the iommufd uAPI`, () => {
      expect(hasIommufd).toBe(true);
      expect(probe.structs['vfio_device_bind_iommufd']).toBeDefined();
    });

  it('every TS-only name is really exported', () => {
    for (const name of TS_ONLY.keys()) expect(typeof exported[name], name).toBe('number');
  });

  it('every probed struct has a TypeScript layout and vice versa', () => {
    expect(tsStructs.map((s) => s.name).sort()).toEqual(Object.keys(probe.structs).sort());
  });
});

describe.each(tsStructs.map((s) => [s.name, s] as const))('struct %s', (name, def) => {
  const c = probe.structs[name];
  // The fields these headers can check: all but the newer ones they lack.
  const fields = def.fields.filter((f) => f.kind !== 'pad' && !(NEWER_FIELDS.has(`${name}.${f.name}`) && !(f.name in (c?.fields ?? {}))));
  const firstMissing = def.fields.find((f) => f.kind !== 'pad' && !fields.includes(f));

  it('sizeof', () => {
    expect(c, `probe has no struct ${name}`).toBeDefined();
    expect(firstMissing ? firstMissing.offset : def.size).toBe(c?.sizeof);
  });

  it('declares the same fields as C', () => {
    expect(fields.map((f) => f.name)).toEqual(Object.keys(c?.fields ?? {}));
  });

  it.each(fields.map((f) => [f.name, f] as const))(
    'field %s: offset, size, signedness',
    (field, f) => {
      const got = c?.fields[field];
      expect(got, `${name}.${field} missing from probe`).toBeDefined();
      const [offset, size, signed] = got ?? [NaN, NaN, 0];
      expect(def.offsetOf(field), `offsetof(${name}, ${field})`).toBe(offset);
      expect(f.size, `sizeof(${name}.${field})`).toBe(size);
      expect(f.kind === 'i32' ? 1 : 0, `signedness of ${name}.${field}`).toBe(signed);
    },
  );

  // Variable-length tails start right after the fixed part, which is what
  // the encoders and decoders assume when they use `size` as the tail offset.
  it.each(Object.entries(c?.flex ?? {}))('flexible array %s starts at sizeof', (member, offset) => {
    expect(offset, `offsetof(${name}, ${member})`).toBe(def.size);
  });
});
