// The Intel 82576 PF for SR-IOV tests: its identity and SR-IOV capability as QEMU's igb
// presents it (VF device 8086:10ca, first VF at routing ID + 0x80, stride 2). The PF's own
// registers are not modelled (read 0, writes dropped); its VFs are IgbvfModels, whose
// mailbox answers as Linux's igb driver on this PF would.
import { ConfigBuilder } from '../config.js';
import type { BarSpec, DeviceBus, DeviceModel } from '../model.js';
import type { EthernetHub } from './ethernet.js';
import { IgbvfModel, type IgbvfModelOptions } from './igbvf.js';

/** The 82576's PCI device ID (the PF; vendor 0x8086). */
export const I82576_PF_DEVICE = 0x10c9;
/** The PCI device ID of the 82576's virtual function (vendor 0x8086). */
export const I82576_VF_DEVICE = 0x10ca;

/** Options of I82576Model. */
export interface I82576ModelOptions {
  /** TotalVFs in the SR-IOV capability (default 8, QEMU's igb; the kernel's igb driver offers 7 of them). */
  totalVfs?: number;
  /** The hub the VFs are plugged into as they are made (the PF's port on the wire; default: none). */
  hub?: EthernetHub;
  /** Options of each VF's model (the MAC an administrator set for VF `index`, the link, …). */
  vf?: (index: number) => Omit<IgbvfModelOptions, 'vfIndex' | 'numVfs'>;
}

/** Registers nobody models yet: reads give 0, writes are dropped. */
abstract class Inert implements DeviceModel {
  abstract readonly config: Uint8Array;
  abstract readonly bars: readonly (BarSpec | undefined)[];
  readonly resettable = true;
  attach(_bus: DeviceBus): void {}
  read(_bar: number, _offset: number, width: 1 | 2 | 4 | 8): number | bigint {
    return width === 8 ? 0n : 0;
  }
  write(): void {}
}

/**
 * The 82576 PF (8086:10c9) as QEMU's igb shows it: BAR0 128 KiB registers, BAR3 MSI-X
 * (10 vectors), PCIe with FLR, and the SR-IOV capability from which sriov_numvfs makes
 * IgbvfModel functions (on `hub` when given).
 */
export class I82576Model extends Inert {
  /** Its config space: 8086:10c9, MSI-X, PCIe with FLR, the SR-IOV capability. */
  readonly config: Uint8Array;
  /** BAR0 128 KiB registers, BAR3 the MSI-X table. */
  readonly bars: readonly (BarSpec | undefined)[] = [{ size: 128 << 10 }, undefined, undefined, { size: 16 << 10 }];

  readonly #options: I82576ModelOptions;

  constructor(options: I82576ModelOptions = {}) {
    super();
    this.#options = options;
    this.config = new ConfigBuilder({ vendor: 0x8086, device: I82576_PF_DEVICE, classCode: 0x020000, revision: 0x01, interruptPin: 1, express: true })
      .msix({ tableSize: 10, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 })
      .pcie({ flr: true })
      .sriov({ totalVfs: options.totalVfs ?? 8, vfDevice: I82576_VF_DEVICE, offset: 0x80, stride: 2 })
      .build();
  }

  /** VF `index`'s model (of `count`): an IgbvfModel, plugged into the hub if there is one. */
  createVf(index: number, count: number): DeviceModel {
    const vf = new IgbvfModel({ ...this.#options.vf?.(index), vfIndex: index, numVfs: count });
    this.#options.hub?.attach(vf);
    return vf;
  }
}
