/**
 * The shape of src/: no import cycles (type-only imports included) and every
 * import pointing down the layer table. The checker is first run on graphs
 * with known answers, so a pass on the real tree means something.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findCycles, formatCycle } from '../helpers/cycles.js';
import { importSpecifiers, readImportGraph, type ImportGraph } from '../helpers/imports.js';
import { checkLayers, explainLayerProblem, type Layer } from '../helpers/layers.js';

/** Bottom first: a file may import from its own layer or any layer earlier in this list. */
const LAYERS: readonly Layer[] = [
  // Error classes and errno helpers that every layer throws; imports nothing from src.
  { name: 'errors', files: ['errors.ts'] },
  // Kernel ABI: ioctl numbers, struct layouts, PCI register definitions.
  { name: 'uapi', files: ['uapi/**'] },
  // Device register maps as data (the 82574's), shared by a driver and the fake kernel's model of the device.
  { name: 'hw', files: ['hw/**'] },
  // sysfs and procfs: PCI discovery, IOMMU groups and viability, bind/unbind, node holders, limits.
  { name: 'host', files: ['host/**'] },
  // The syscall boundary: the native addon and the in-memory fake kernel behind one interface.
  { name: 'backend', files: ['backend/**'] },
  // The object model: device, regions, config space, interrupts, DMA space and buffers, and the
  // DeviceHost seam the IOMMU interfaces implement (so nothing here knows which one it sits on).
  { name: 'model', files: ['model/**'] },
  // The interfaces a device sits on: container + group (type1 or no-IOMMU) and iommufd + cdev.
  { name: 'iommu', files: ['iommu/**'] },
  // openDevice: picks the iommu path for an address and returns a ready device.
  { name: 'open', files: ['open.ts'] },
  // The virtio 1.x PCI transport and split virtqueues (`vfio/virtio`), for any virtio driver; on the object model.
  { name: 'virtio', files: ['virtio/**'] },
  // The packet layer and NIC drivers (`vfio/net`): the packet pool, the port interface, e1000e, pcap; built on open.
  { name: 'net', files: ['net/**'] },
  // Administration: doctor's checks and describe (`vfio info`); the library must not import the CLI.
  { name: 'admin', files: ['admin/**'] },
  // The package entry: re-exports everything public.
  { name: 'entry', files: ['index.ts'] },
  // The `vfio` command line.
  { name: 'cli', files: ['cli/**'] },
];

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

describe('src/ layering', () => {
  // Read in a hook, not at collection, so a parse error fails these tests and leaves the self-tests running.
  let graph: ImportGraph = {};
  beforeAll(() => {
    graph = readImportGraph(SRC);
  });

  it('has no import cycles', () => {
    const tangles = findCycles(graph);
    if (tangles.length > 0) expect.fail(explainCycles(tangles));
  });

  it('puts every file in a layer', () => {
    const unassigned = checkLayers(graph, LAYERS).filter((p) => p.kind === 'unassigned');
    if (unassigned.length > 0) expect.fail(`${unassigned.length} file(s) in no layer:\n${unassigned.map(explainLayerProblem).join('\n')}`);
  });

  it('imports only from the same layer or below', () => {
    const upward = checkLayers(graph, LAYERS).filter((p) => p.kind === 'upward');
    if (upward.length > 0) expect.fail(`${upward.length} import(s) against the layer order:\n${upward.map(explainLayerProblem).join('\n')}`);
  });
});

describe('layer checker on known graphs', () => {
  it('reports every loop and every upward import of a synthetic graph', () => {
    const bad: ImportGraph = {
      'errors.ts': [],
      'uapi/a.ts': ['errors.ts', 'model/m.ts'],
      'model/m.ts': ['uapi/a.ts', 'model/n.ts'],
      'model/n.ts': ['model/m.ts'],
      'iommu/self.ts': ['iommu/self.ts'],
      'stray.ts': ['errors.ts'],
    };
    expect(findCycles(bad)).toEqual([
      { files: ['iommu/self.ts'], cycles: [['iommu/self.ts', 'iommu/self.ts']] },
      {
        files: ['model/m.ts', 'model/n.ts', 'uapi/a.ts'],
        cycles: [
          ['model/m.ts', 'uapi/a.ts', 'model/m.ts'],
          ['model/m.ts', 'model/n.ts', 'model/m.ts'],
        ],
      },
    ]);
    expect(checkLayers(bad, LAYERS)).toEqual([
      { kind: 'unassigned', file: 'stray.ts' },
      { kind: 'upward', from: 'uapi/a.ts', fromLayer: 'uapi', to: 'model/m.ts', toLayer: 'model' },
    ]);
    expect(explainLayerProblem(checkLayers(bad, LAYERS)[1]!)).toContain("invert the dependency through an interface in layer 'uapi'");
  });

  it('refuses a computed import(), which it could not follow', () => {
    expect(() => importSpecifiers('x.ts', 'const m = await import(name);')).toThrow(/computed specifier/);
  });

  describe('on a layered tree on disk', () => {
    let root: string | undefined;
    afterEach(() => {
      if (root !== undefined) rmSync(root, { recursive: true, force: true });
      root = undefined;
    });

    it('reads every import form and passes a tree that follows the table', () => {
      root = mkdtempSync(join(tmpdir(), 'vfio-layers-'));
      const src = join(root, 'src');
      writeTree(src, LAYERED_TREE);
      writeFileSync(join(root, 'package.json'), '{}');
      const graph = readImportGraph(src);
      expect(graph).toEqual({
        'admin/bind.ts': ['host/sysfs.ts'],
        'backend/backend.ts': ['errors.ts'],
        'backend/fake/kernel.ts': ['backend/backend.ts'],
        'cli/commands/index.ts': [],
        'cli/main.ts': ['cli/commands/index.ts', 'index.ts'],
        'errors.ts': [],
        'host/sysfs.ts': ['uapi/index.ts'],
        'index.ts': ['admin/bind.ts', 'uapi/index.ts'],
        'iommu/container.ts': ['iommu/group.ts', 'model/device.ts'],
        'iommu/group.ts': ['model/device.ts'],
        'model/device.ts': ['backend/fake/kernel.ts', 'host/sysfs.ts'],
        'net/nic.ts': ['open.ts'],
        'open.ts': ['iommu/container.ts'],
        'uapi/index.ts': ['errors.ts', 'uapi/ioctl.ts'],
        'uapi/ioctl.ts': [],
      });
      expect(findCycles(graph)).toEqual([]);
      expect(checkLayers(graph, LAYERS)).toEqual([]);
    });
  });
});

/** One file per import form the reader must follow; all of them point down the table. */
const LAYERED_TREE: Record<string, string> = {
  'errors.ts': `import { inspect } from 'node:util';\nexport class E extends Error {}\n`,
  'uapi/ioctl.ts': `export const A = 1;\n`,
  'uapi/index.ts': `export * from './ioctl.js';\nexport type { E as X } from '../errors.js';\n`,
  'host/sysfs.ts': `import {\n  A,\n  type X,\n} from '../uapi/index.js';\nexport type S = X;\n`,
  'backend/backend.ts': `import type { E } from '../errors.js';\nexport interface B { e: E }\n`,
  'backend/fake/kernel.ts': `import { readFileSync } from 'fs';\nimport ts from 'typescript';\nexport { type B } from '../backend.js';\n`,
  'model/device.ts': `let k: typeof import('../backend/fake/kernel.js');\nexport type S = import('../host/sysfs.js').S;\n`,
  'iommu/group.ts': `import type {\n  S,\n} from '../model/device.js';\n`,
  'iommu/container.ts': `import { S } from '../model/device.js';\nimport './group.js';\n`,
  'open.ts': `export async function open() {\n  return import(\n    './iommu/container.js'\n  );\n}\n`,
  'net/nic.ts': `import '../open.ts';\n`,
  'admin/bind.ts': `import sysfs = require('../host/sysfs.js');\n`,
  'index.ts': `export * from './admin/bind.js';\nexport * as uapi from './uapi/index.js';\nimport pkg from '../package.json' with { type: 'json' };\n`,
  'cli/commands/index.ts': `export const commands = [];\n`,
  'cli/main.ts': `import { commands } from './commands/index.js';\nexport * from '../index.js';\n`,
};

function writeTree(dir: string, files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
}

function explainCycles(tangles: ReturnType<typeof findCycles>): string {
  const lines = [
    `${tangles.length} import cycle(s) in src/ (type-only imports count: they tie the files together just the same).`,
    'Cut one import in every loop below: move what both sides need into a lower file, or invert the dependency through an interface in the lower layer.',
  ];
  for (const t of tangles) {
    lines.push('', `${t.files.length} files tied together: ${t.files.map((f) => `src/${f}`).join(', ')}`);
    for (const c of t.cycles) lines.push(`  ${formatCycle(c.map((f) => `src/${f}`))}`);
  }
  return lines.join('\n');
}
