// The bus a device model sits on: its DMA goes through whatever translates for the
// device (the container's type1 IOMMU, the IOAS its cdev is attached to, or nothing
// in no-IOMMU mode), and its interrupts reach the eventfds the driver registered.
import type { DmaFault, DmaResult, PhysicalMemory } from './memory.js';
import type { DeviceBus } from './model.js';
import type { KDevice } from './objects.js';

/** An IOMMU fault a device model caused. */
export type RecordedFault = DmaFault & {
  /** PCI address of the device that caused it. */
  device: string;
};

const COMMAND_MASTER = 0x4;

export function deviceBus(d: KDevice, phys: PhysicalMemory, faults: RecordedFault[]): DeviceBus {
  const master = () => (d.config.command & COMMAND_MASTER) !== 0;
  const access = (iova: number, length: number, write: boolean, data?: Uint8Array) => {
    const fault = (reason: string) => {
      faults.push({ device: d.address, iova, length, write, reason });
      return null;
    };
    if (!master()) return fault('bus master disabled');
    let r: DmaResult;
    if (d.group.noiommu) {
      // Nothing translates: the address is a physical one.
      r = phys.access(iova, length, write, data);
    } else if (d.cdev) {
      const ioas = d.cdev.bound!.ctx.attachedIoas(d.cdev.bound!.devid);
      if (!ioas) return fault('no IOMMU domain');
      r = ioas.access(iova, length, write, data);
    } else {
      const iommu = d.group.container?.iommu;
      if (!iommu || d.opens === 0) return fault('no IOMMU domain');
      r = iommu.access(iova, length, write, data);
    }
    if (r.fault) return fault(r.fault.reason);
    return r.bytes ?? new Uint8Array(0);
  };
  return {
    dmaRead: (iova, length) => access(iova, length, false),
    dmaWrite: (iova, data) => access(iova, data.length, true, data) !== null,
    raiseIrq: (vector = 0) => {
      // MSI is a memory write by the device: nothing leaves without Bus Master.
      if ((d.irq.type === 'msi' || d.irq.type === 'msix') && !master()) return;
      d.irq.raise(vector);
    },
    lowerIrq: () => d.irq.lowerIntx(),
    get busMaster() {
      return master();
    },
    get irqType() {
      return d.irq.type;
    },
  };
}
