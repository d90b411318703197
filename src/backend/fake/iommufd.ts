// One open /dev/iommu (an iommufd context) as drivers/iommu/iommufd keeps it: an
// id space of objects (IOAS, hwpt, device; ids from 1, the lowest free one first,
// as xa_alloc with XA_FLAGS_ALLOC1 hands them out), the IOMMU_IOAS_ALLOC and
// IOMMU_DESTROY commands with the ucmd size rules, and device attachment through
// an automatically created hwpt per IOAS.
//
// A bound device holds a reference to the context: closing the fd keeps it (and
// its mappings) alive until the last device lets go.
import { errnoError } from './errno.js';
import { FakeIoas } from './ioas.js';
import type { IommuConfig } from './iommu-config.js';
import type { MemlockAccount } from './memory.js';
import { readArg, writeArg } from './uarg.js';
import { IOMMU_DESTROY, IOMMU_IOAS_ALLOC, iommuDestroy, iommuIoasAlloc } from '../../uapi/iommufd.js';
import type { Struct } from '../../uapi/struct.js';

type IommufdObject =
  | { type: 'ioas'; ioas: FakeIoas }
  | { type: 'hwpt'; ioasId: number; ioas: FakeIoas; devices: Set<number> }
  | { type: 'device'; hwpt: number | null; group: unknown };

/** The kernel's struct (op->size) and the size below which it refuses a command (op->min_size: its last field). */
const UCMD: Record<number, { name: string; struct: Struct; min: number }> = {
  [IOMMU_IOAS_ALLOC]: { name: 'IOMMU_IOAS_ALLOC', struct: iommuIoasAlloc, min: iommuIoasAlloc.size },
  [IOMMU_DESTROY]: { name: 'IOMMU_DESTROY', struct: iommuDestroy, min: iommuDestroy.size },
};

export class FakeIommufd {
  #objects = new Map<number, IommufdObject>();
  #config: IommuConfig;
  #memlock: MemlockAccount;
  #fdOpen = true;
  #bound = 0;

  constructor(config: IommuConfig, memlock: MemlockAccount) {
    this.#config = config;
    this.#memlock = memlock;
  }

  #alloc(obj: IommufdObject): number {
    let id = 1;
    while (this.#objects.has(id)) id++;
    this.#objects.set(id, obj);
    return id;
  }

  /** iommufd_fops_ioctl for the commands that go through Backend.ioctl; `bytes` holds `size` bytes or more. */
  ioctl(request: number, bytes: Uint8Array, size: number): number {
    const op = UCMD[request]!;
    const fail = (code: string, why?: string) => errnoError(code, 'ioctl', why ? `${op.name}: ${why}` : op.name);
    if (size < op.min) throw fail('EINVAL');
    // copy_struct_from_user: what the caller sends past the kernel's struct must be zero.
    if (bytes.subarray(op.struct.size, size).some((b) => b !== 0)) throw fail('E2BIG');
    if (request === IOMMU_IOAS_ALLOC) {
      if (readArg(iommuIoasAlloc, bytes, size).flags !== 0) throw fail('EOPNOTSUPP');
      const id = this.#alloc({ type: 'ioas', ioas: new FakeIoas(this.#config, this.#memlock) });
      writeArg(iommuIoasAlloc, { out_ioas_id: id }, bytes, size);
      return 0;
    }
    // iommufd_object_remove: unknown → ENOENT; still referenced → EBUSY.
    const { id } = readArg(iommuDestroy, bytes, size);
    const obj = this.#objects.get(id);
    if (!obj) throw fail('ENOENT');
    if (obj.type === 'ioas' && [...this.#objects.values()].some((o) => o.type === 'hwpt' && o.ioasId === id)) throw fail('EBUSY', 'a device is attached to it');
    if (obj.type !== 'ioas') throw fail('EBUSY', `the ${obj.type} is in use`);
    obj.ioas.releaseAll();
    this.#objects.delete(id);
    return 0;
  }

  /** The IOAS named `id`; ENOENT (iommufd_get_ioas) when there is none. */
  ioas(id: number, what: string): FakeIoas {
    const obj = this.#objects.get(id);
    if (obj?.type !== 'ioas') throw errnoError('ENOENT', 'ioctl', what);
    return obj.ioas;
  }

  /** iommufd_device_bind: a device object; `group` keeps a group's devices on one hwpt. */
  bind(group: unknown): number {
    this.#bound++;
    return this.#alloc({ type: 'device', hwpt: null, group });
  }

  /** Detaches and destroys the device object, dropping the device's reference to the context. */
  unbind(devid: number): void {
    this.detach(devid);
    this.#objects.delete(devid);
    this.#bound--;
    this.#maybeRelease();
  }

  /**
   * iommufd_device_attach/replace: `ptId` names an IOAS (its auto hwpt is reused or
   * created) or a hwpt. Returns the hwpt's id, which the kernel writes back.
   */
  attach(devid: number, ptId: number): number {
    const what = 'VFIO_DEVICE_ATTACH_IOMMUFD_PT';
    const dev = this.#device(devid);
    const pt = this.#objects.get(ptId);
    if (!pt) throw errnoError('ENOENT', 'ioctl', what);
    let hwptId: number | undefined;
    if (pt.type === 'hwpt') hwptId = ptId;
    else if (pt.type === 'ioas') hwptId = this.#hwptOf(ptId);
    else throw errnoError('EINVAL', 'ioctl', `${what}: id ${ptId} is a device`);
    if (hwptId !== undefined && hwptId === dev.hwpt) return hwptId;
    // iommufd_group: the devices of one IOMMU group share one domain.
    for (const [id, o] of this.#objects)
      if (o.type === 'device' && id !== devid && o.group === dev.group && o.hwpt !== null && o.hwpt !== hwptId)
        throw errnoError('EINVAL', 'ioctl', `${what}: another device of the IOMMU group is attached elsewhere`);
    const ioas = pt.ioas;
    ioas.attach();
    if (hwptId === undefined) hwptId = this.#alloc({ type: 'hwpt', ioasId: ptId, ioas, devices: new Set() });
    const hwpt = this.#objects.get(hwptId) as Extract<IommufdObject, { type: 'hwpt' }>;
    this.detach(devid);
    hwpt.devices.add(devid);
    dev.hwpt = hwptId;
    return hwptId;
  }

  /** Detaching what is not attached is no error (vfio_iommufd_physical_detach_ioas). */
  detach(devid: number): void {
    const dev = this.#device(devid);
    if (dev.hwpt === null) return;
    const hwpt = this.#objects.get(dev.hwpt) as Extract<IommufdObject, { type: 'hwpt' }>;
    hwpt.devices.delete(devid);
    hwpt.ioas.detach();
    // An automatically created hwpt goes with its last device.
    if (hwpt.devices.size === 0) this.#objects.delete(dev.hwpt);
    dev.hwpt = null;
  }

  /** The IOAS the device's DMA goes through, or null while it is not attached. */
  attachedIoas(devid: number): FakeIoas | null {
    const dev = this.#objects.get(devid);
    if (dev?.type !== 'device' || dev.hwpt === null) return null;
    return (this.#objects.get(dev.hwpt) as Extract<IommufdObject, { type: 'hwpt' }>).ioas;
  }

  /** Unmaps every area of every IOAS, as the shim does before it closes the fd. */
  unmapAll(): void {
    for (const o of this.#objects.values()) if (o.type === 'ioas') o.ioas.releaseAll();
  }

  /** The fd was closed: the context lives on while devices hold it. */
  closeFd(): void {
    this.#fdOpen = false;
    this.#maybeRelease();
  }

  #maybeRelease(): void {
    if (this.#fdOpen || this.#bound > 0) return;
    for (const o of this.#objects.values()) if (o.type === 'ioas') o.ioas.releaseAll();
    this.#objects.clear();
  }

  #hwptOf(ioasId: number): number | undefined {
    for (const [id, o] of this.#objects) if (o.type === 'hwpt' && o.ioasId === ioasId) return id;
    return undefined;
  }

  #device(devid: number): Extract<IommufdObject, { type: 'device' }> {
    return this.#objects.get(devid) as Extract<IommufdObject, { type: 'device' }>;
  }
}
