/**
 * A fake Linux kernel behind the Backend interface: /dev/vfio with the legacy
 * container/group/device API, vfio-pci's region/config/IRQ semantics, the type1
 * IOMMU, eventfds, and a sysfs tree on disk for discovery. Optionally Linux 6.12's
 * iommufd with the device cdev (iommufd.ts, ioas.ts, cdev.ts), and no-IOMMU mode,
 * where devices address "physical" memory (physmem.ts). Device models plug in
 * with addDevice(). Where it disagrees with the real kernel, the kernel is right:
 * the conformance suite (test/conformance) runs against both.
 *
 * Known differences, by design: BAR accesses are trapped (a model sees every
 * access), so mmap of a BAR is refused with ENODEV and Region falls back to
 * pread/pwrite; hot reset is not modelled (ENODEV, as for a device on a root bus);
 * VFIO_GROUP_SET_CONTAINER with an iommufd (its VFIO compatibility) is not modelled.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, DmaAllocation, EventCallback, EventPoller, HugePages, IoasRanges } from '../backend.js';
import { checkIoctlArg, checkRequest, findAllowed, type CheckedArg, type FdKind } from '../allowlist.js';
import { errnoError } from './errno.js';
import { argBytes, argFd, argU64 } from './args.js';
import { FakeEventfd, FakePoller } from './eventfd.js';
import { FakeIommu, type DmaFault, type FakeMem, type IommuConfig, type MemlockAccount } from './iommu.js';
import { FakeIommufd } from './iommufd.js';
import { PhysicalMemory } from './physmem.js';
import { attachPt, bindIommufd, detachPt, releaseCdev, type CdevHost } from './cdev.js';
import type { CdevFile, KContainer, KDevice, KGroup } from './objects.js';
import { IrqState, IRQ_SET_HEADER } from './irq.js';
import { VirtualConfig } from './config.js';
import { SysfsTree } from './sysfs.js';
import { driverKeepsGroupViable } from '../../sysfs.js';
import type { DeviceBus, DeviceModel } from './model.js';
import {
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_IOMMU_GET_INFO,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_TYPE1_NESTING_IOMMU,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
} from '../../uapi/ioctl.js';
import {
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
} from '../../uapi/iommufd.js';
import { VFIO_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_VIABLE } from '../../uapi/vfio-group.js';
import { VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET } from '../../uapi/vfio-device.js';
import {
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
} from '../../uapi/vfio-region.js';
import { VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_INFO_PGSIZES, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL } from '../../uapi/vfio-iommu.js';
import { VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_NUM_IRQS, VFIO_PCI_NUM_REGIONS, VFIO_PCI_ROM_REGION_INDEX, VFIO_PCI_VGA_REGION_INDEX } from '../../uapi/vfio-pci.js';
import { PCI_INTERRUPT_PIN, PCI_MSIX_FLAGS, PCI_MSI_FLAGS, PCI_MSI_FLAGS_QMASK } from '../../uapi/pci-regs.js';

export interface FakeKernelOptions {
  /** RLIMIT_MEMLOCK in bytes for pinned DMA memory; Infinity (the default) acts like CAP_IPC_LOCK. */
  memlockLimit?: number;
  /** IOVA ranges the IOMMU reports (inclusive); default: Intel VT-d with 39 address bits. */
  iovaRanges?: { start: bigint; end: bigint }[];
  /** IOMMU page-size bitmap; default 4 KiB | 2 MiB | 1 GiB. */
  pgsizes?: bigint;
  /** vfio_iommu_type1 dma_entry_limit; default 65535. */
  dmaEntryLimit?: number;
  /** Free 2 MiB hugepages for dmaAlloc; default 0. */
  hugepages?: number;
  /**
   * Linux 6.12 with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV: /dev/iommu, and a
   * /dev/vfio/devices/vfioN cdev for each device vfio-pci drives. Default false: 6.1's legacy API only.
   */
  iommufd?: boolean;
  /** No IOMMU hardware, vfio.enable_unsafe_noiommu_mode=1: groups are /dev/vfio/noiommu-N. Default false. */
  noIommu?: boolean;
  /** The process has CAP_SYS_RAWIO (no-IOMMU groups need it); default true. */
  capSysRawio?: boolean;
  /** The process has CAP_SYS_ADMIN (/proc/self/pagemap shows frame numbers, for dmaPhysical); default true. */
  capSysAdmin?: boolean;
}

export interface AddDeviceOptions {
  /** IOMMU group number; default: a new group of its own. */
  group?: number;
  /** Bound driver; default 'vfio-pci'. */
  driver?: string | null;
}

const REGION_SHIFT = 2 ** 40;
const PAGE = 4096;

type FdEntry =
  | { kind: 'container'; c: KContainer }
  | { kind: 'group'; g: KGroup }
  | { kind: 'device'; d: KDevice; cdev?: CdevFile }
  | { kind: 'iommufd'; ctx: FakeIommufd }
  | { kind: 'eventfd'; e: FakeEventfd };

export type RecordedFault = DmaFault & { device: string };

export class FakeKernel implements Backend {
  readonly name = 'fake';
  readonly pageSize = PAGE;
  readonly root: string;
  /** IOMMU faults the device models caused, oldest first. */
  readonly faults: RecordedFault[] = [];
  #sys: SysfsTree;
  #fds = new Map<number, FdEntry>();
  #nextFd = 100;
  #groups = new Map<number, KGroup>();
  #devices = new Map<string, KDevice>();
  #mems = new Map<ArrayBuffer, FakeMem>();
  #memlock: MemlockAccount;
  #iommuConfig: IommuConfig;
  #hugepages: number;
  #iommufd: boolean;
  #noIommu: boolean;
  #caps: { sysRawio: boolean; sysAdmin: boolean };
  #phys = new PhysicalMemory();

  constructor(options: FakeKernelOptions = {}) {
    this.root = mkdtempSync(join(tmpdir(), 'vfio-fake-'));
    this.#sys = new SysfsTree(this.root);
    this.#iommufd = options.iommufd ?? false;
    this.#noIommu = options.noIommu ?? false;
    this.#caps = { sysRawio: options.capSysRawio ?? true, sysAdmin: options.capSysAdmin ?? true };
    if (this.#noIommu) this.#sys.setModuleParam('vfio', 'enable_unsafe_noiommu_mode', 'Y');
    else this.#sys.addIommuUnit('dmar0');
    if (this.#iommufd) {
      this.#sys.setNode('dev/iommu', true);
      mkdirSync(join(this.root, 'dev/vfio/devices'), { recursive: true });
    }
    this.#sys.setDevNode('vfio', true);
    this.#memlock = { limit: options.memlockLimit ?? Infinity, locked: 0 };
    this.#hugepages = options.hugepages ?? 0;
    this.#iommuConfig = {
      pgsizes: options.pgsizes ?? 0x40201000n,
      ranges: options.iovaRanges ?? [
        { start: 0n, end: 0xfedfffffn },
        { start: 0xfef00000n, end: (1n << 39n) - 1n },
      ],
      dmaEntryLimit: options.dmaEntryLimit ?? 65535,
    };
  }

  /** Options for openDevice/Container.open that select this kernel. */
  get options(): { backend: FakeKernel; root: string } {
    return { backend: this, root: this.root };
  }

  /** Open file descriptors of this kernel (containers, groups, devices, eventfds). */
  get openFds(): number {
    return this.#fds.size;
  }

  /** Grants or drops a capability of the process using this kernel. */
  setCapability(cap: 'CAP_SYS_RAWIO' | 'CAP_SYS_ADMIN', on: boolean): void {
    if (cap === 'CAP_SYS_RAWIO') this.#caps.sysRawio = on;
    else this.#caps.sysAdmin = on;
  }

  /** Sets RLIMIT_MEMLOCK for subsequent mappings (bytes; Infinity acts like CAP_IPC_LOCK). */
  setMemlockLimit(bytes: number): void {
    this.#memlock.limit = bytes;
  }

  memlockLimit(): number {
    return this.#memlock.limit;
  }
  get lockedBytes(): number {
    return this.#memlock.locked;
  }

  /** Plugs a device model in at a PCI address. */
  addDevice(address: string, model: DeviceModel, opts: AddDeviceOptions = {}): void {
    if (this.#devices.has(address)) throw new Error(`FakeKernel.addDevice: ${address} already exists`);
    const id = opts.group ?? Math.max(-1, ...this.#groups.keys()) + 1;
    let group = this.#groups.get(id);
    if (!group) {
      group = { id, devices: [], open: false, container: null, noiommu: this.#noIommu, cdevBound: 0 };
      this.#groups.set(id, group);
      // vfio_noiommu_group_alloc names its groups so.
      if (this.#noIommu) this.#sys.setGroupName(id, 'vfio-noiommu');
    }
    const config = new VirtualConfig(model.config, model.bars);
    const dv = new DataView(config.bytes.buffer);
    const msiCount = config.msiCap === undefined ? 0 : 1 << ((dv.getUint16(config.msiCap + PCI_MSI_FLAGS, true) & PCI_MSI_FLAGS_QMASK) >> 1);
    const msixCount = config.msixCap === undefined ? 0 : (dv.getUint16(config.msixCap + PCI_MSIX_FLAGS, true) & 0x7ff) + 1;
    const counts = { intx: config.bytes[PCI_INTERRUPT_PIN] ? 1 : 0, msi: msiCount, msix: msixCount, err: config.size > 256 };
    // The user's view of the MSI/MSI-X enable bits is virtualised: SET_IRQS does not show there.
    const irq = new IrqState(counts, () => {});
    const driver = opts.driver === undefined ? 'vfio-pci' : opts.driver;
    const d: KDevice = { address, model, group, driver, config, irq, opens: 0, index: null, cdev: null };
    group.devices.push(d);
    this.#devices.set(address, d);
    this.#sys.addDevice({
      address,
      vendor: dv.getUint16(0, true),
      device: dv.getUint16(2, true),
      classCode: dv.getUint32(8, true) >>> 8,
      driver: d.driver,
      group: id,
    });
    this.#refreshDevNode(group);
    this.#refreshVfioDevice(d);
    model.attach(this.#bus(d));
  }

  /** Rebinds a device to another driver (null: none), as writing to sysfs bind/unbind would. */
  bindDriver(address: string, driver: string | null): void {
    const d = this.#devices.get(address);
    if (!d) throw new Error(`FakeKernel.bindDriver: no device ${address}`);
    if (d.opens > 0 && driver !== 'vfio-pci') throw new Error(`FakeKernel.bindDriver: ${address} is open through VFIO`);
    d.driver = driver;
    this.#sys.setDriver(address, driver);
    this.#refreshDevNode(d.group);
    this.#refreshVfioDevice(d);
  }

  /**
   * Unbinds a device from vfio-pci as the kernel does: while a user holds it, the
   * kernel signals the REQ notifier and waits; the unbind completes once it is closed.
   */
  async unbind(address: string): Promise<void> {
    const d = this.#devices.get(address);
    if (!d) throw new Error(`FakeKernel.unbind: no device ${address}`);
    if (d.opens > 0) d.irq.req?.signal();
    while (d.opens > 0) await new Promise((r) => setTimeout(r, 2));
    this.bindDriver(address, null);
  }

  /** Stops the models' timers and removes the sysfs tree. */
  dispose(): void {
    for (const d of this.#devices.values()) d.model.dispose?.();
    this.#sys.remove();
  }

  #refreshDevNode(g: KGroup): void {
    this.#sys.setDevNode(this.#groupNode(g), g.devices.some((d) => d.driver === 'vfio-pci'));
  }

  #groupNode(g: KGroup): string {
    return g.noiommu ? `noiommu-${g.id}` : String(g.id);
  }

  // vfio_device's index comes from an IDA: the lowest free one while vfio-pci drives it.
  #refreshVfioDevice(d: KDevice): void {
    const want = d.driver === 'vfio-pci';
    if (want === (d.index !== null)) return;
    // The kernel creates no cdev for no-IOMMU devices (vfio_device_add).
    const cdev = this.#iommufd && !d.group.noiommu;
    if (want) {
      const used = new Set([...this.#devices.values()].map((x) => x.index));
      let n = 0;
      while (used.has(n)) n++;
      d.index = n;
    }
    const node = `dev/vfio/devices/vfio${d.index}`;
    if (cdev) this.#sys.setNode(node, want);
    if (!want) d.index = null;
    this.#sys.setVfioDev(d.address, d.index);
  }

  #viable(g: KGroup): boolean {
    // A no-IOMMU group has no DMA owner to claim (iommu_group_dma_owner_claimed is false).
    return g.noiommu || g.devices.every((d) => driverKeepsGroupViable(d.driver));
  }

  #cdevHost: CdevHost = {
    iommufdOf: (fd) => {
      const e = this.#fds.get(fd);
      return e === undefined ? undefined : e.kind === 'iommufd' ? e.ctx : 'other';
    },
    viable: (d) => this.#viable(d.group),
  };

  #bus(d: KDevice): DeviceBus {
    const kernel = this;
    const access = (iova: number, length: number, write: boolean, data?: Uint8Array) => {
      const fault = (reason: string) => {
        kernel.faults.push({ device: d.address, iova, length, write, reason });
        return null;
      };
      if ((d.config.command & 0x4) === 0) return fault('bus master disabled');
      let r: { bytes?: Uint8Array; fault?: DmaFault };
      if (d.group.noiommu) {
        // Nothing translates: the address is a physical one.
        r = kernel.#phys.access(iova, length, write, data);
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
        if ((d.irq.type === 'msi' || d.irq.type === 'msix') && (d.config.command & 0x4) === 0) return;
        d.irq.raise(vector);
      },
      lowerIrq: () => d.irq.lowerIntx(),
      get busMaster() {
        return (d.config.command & 0x4) !== 0;
      },
      get irqType() {
        return d.irq.type;
      },
    };
  }

  // ---- files -------------------------------------------------------------

  #newFd(entry: FdEntry): number {
    const fd = this.#nextFd++;
    this.#fds.set(fd, entry);
    return fd;
  }

  #entry(fd: number, syscall: string): FdEntry {
    const e = this.#fds.get(fd);
    if (!e) throw errnoError('EBADF', syscall);
    return e;
  }

  open(path: string, flags?: number): number {
    if (typeof path !== 'string') throw new TypeError('open: path must be a string');
    if (path.includes('\0')) throw new TypeError('open: path contains a NUL byte');
    if (flags !== undefined && (typeof flags !== 'number' || flags & ~(3 | 0o4000)))
      throw new RangeError('open: only O_RDONLY/O_WRONLY/O_RDWR/O_NONBLOCK are accepted');
    const prefix = join(this.root, 'dev') + '/';
    const rel = path.startsWith(prefix) ? path.slice(prefix.length) : '';
    if (rel === 'iommu' && this.#iommufd) return this.#newFd({ kind: 'iommufd', ctx: new FakeIommufd(this.#iommuConfig, this.#memlock) });
    if (rel === 'vfio/vfio')
      return this.#newFd({ kind: 'container', c: { groups: new Set(), iommu: null, noiommuDriver: false, noiommu: false, fdOpen: true } });
    const cdev = /^vfio\/devices\/vfio(\d+)$/.exec(rel);
    if (cdev) {
      const d = [...this.#devices.values()].find((x) => x.index === Number(cdev[1]));
      if (!d || !this.#iommufd || d.group.noiommu) throw errnoError('ENOENT', 'open', path);
      // Opening is always allowed; the fd is of no use until VFIO_DEVICE_BIND_IOMMUFD.
      return this.#newFd({ kind: 'device', d, cdev: { d, bound: null } });
    }
    const node = /^vfio\/(noiommu-)?(\d+)$/.exec(rel);
    const g = node ? this.#groups.get(Number(node[2])) : undefined;
    if (!g || g.noiommu !== (node![1] !== undefined) || !g.devices.some((d) => d.driver === 'vfio-pci')) throw errnoError('ENOENT', 'open', path);
    // vfio_group_fops_open
    if (g.noiommu && !this.#caps.sysRawio) throw errnoError('EPERM', 'open', `${path} (no-IOMMU groups need CAP_SYS_RAWIO)`);
    if (g.cdevBound > 0) throw errnoError('EBUSY', 'open', `${path} (a device of the group is in use through its cdev)`);
    if (g.open) throw errnoError('EBUSY', 'open', path);
    g.open = true;
    return this.#newFd({ kind: 'group', g });
  }

  close(fd: number): void {
    argFd(fd, 'close');
    const e = this.#entry(fd, 'close');
    this.#fds.delete(fd);
    switch (e.kind) {
      case 'container':
        e.c.fdOpen = false;
        this.#maybeReleaseContainer(e.c);
        break;
      case 'group':
        e.g.open = false;
        // Releasing the group file detaches it from its container unless devices still hold it.
        if (e.g.container && !e.g.devices.some((d) => d.opens > 0)) this.#detach(e.g);
        break;
      case 'iommufd':
        e.ctx.closeFd();
        break;
      case 'device':
        if (e.cdev) {
          if (releaseCdev(e.cdev) && e.d.opens === 0) e.d.irq.reset();
          break;
        }
        e.d.opens--;
        if (e.d.opens === 0) {
          e.d.irq.reset();
          if (!e.d.group.open && e.d.group.container && !e.d.group.devices.some((d) => d.opens > 0)) this.#detach(e.d.group);
        }
        break;
      case 'eventfd':
        if (e.e.poller) e.e.poller.close();
        break;
    }
  }

  #detach(g: KGroup): void {
    const c = g.container!;
    c.groups.delete(g);
    g.container = null;
    if (c.groups.size === 0 && c.iommu) {
      c.iommu.releaseAll();
      c.iommu = null;
    }
    // The last group out takes the driver with it, whichever it was.
    if (c.groups.size === 0) c.noiommuDriver = false;
    this.#maybeReleaseContainer(c);
  }

  #maybeReleaseContainer(c: KContainer): void {
    if (!c.fdOpen && c.groups.size === 0 && c.iommu) {
      c.iommu.releaseAll();
      c.iommu = null;
    }
  }

  // ---- ioctl -------------------------------------------------------------

  ioctl(fd: number, request: number, arg?: number | string | Uint8Array): number {
    argFd(fd, 'ioctl');
    checkRequest(request);
    const e = this.#entry(fd, 'ioctl');
    const kind: FdKind | 'other' = e.kind === 'eventfd' ? 'other' : e.kind;
    const req = findAllowed(kind, request);
    if (!req) throw errnoError('ENOTTY', 'ioctl', `request not valid on fd ${fd} (a ${kindName(kind)})`);
    const a = checkIoctlArg(req, arg);
    if (e.kind === 'container') return this.#containerIoctl(e.c, request, a);
    if (e.kind === 'group') return this.#groupIoctl(e.g, request, a);
    if (e.kind === 'iommufd') {
      const { bytes, argsz } = a as { bytes: Uint8Array; argsz: number };
      return e.ctx.ioctl(request, bytes, argsz);
    }
    const { d, cdev } = e as { d: KDevice; cdev?: CdevFile };
    return cdev ? this.#cdevIoctl(cdev, request, a) : this.#deviceIoctl(d, request, a);
  }

  // vfio_device_fops_unl_ioctl for a device opened through its cdev.
  #cdevIoctl(f: CdevFile, request: number, a: CheckedArg): number {
    const { bytes, argsz } = a as { bytes: Uint8Array; argsz: number };
    if (request === VFIO_DEVICE_BIND_IOMMUFD) return bindIommufd(f, bytes, argsz, this.#cdevHost);
    if (!f.bound) throw errnoError('EINVAL', 'ioctl', 'the device cdev is not bound to an iommufd yet (VFIO_DEVICE_BIND_IOMMUFD)');
    if (request === VFIO_DEVICE_ATTACH_IOMMUFD_PT) return attachPt(f, bytes, argsz);
    if (request === VFIO_DEVICE_DETACH_IOMMUFD_PT) return detachPt(f, bytes, argsz);
    return this.#deviceIoctl(f.d, request, a);
  }

  #containerIoctl(c: KContainer, request: number, a: CheckedArg): number {
    const einval = (what: string) => errnoError('EINVAL', 'ioctl', what);
    switch (request) {
      case VFIO_GET_API_VERSION:
        return VFIO_API_VERSION;
      case VFIO_CHECK_EXTENSION: {
        const ext = Number((a as { value: bigint }).value);
        // vfio_container_ioctl_check_extension: the chosen driver answers alone; before
        // that every driver the container's groups allow (vfio_iommu_driver_allowed).
        const noiommu = ext === VFIO_NOIOMMU_IOMMU && this.#noIommu ? 1 : 0;
        if (c.noiommuDriver) return noiommu;
        const type1 = ext === VFIO_TYPE1_IOMMU || ext === VFIO_TYPE1v2_IOMMU || ext === VFIO_TYPE1_NESTING_IOMMU || ext === VFIO_UNMAP_ALL;
        // Answered by the IOMMU driver once one is set (no mediated devices here).
        if (c.iommu) return type1 || ext === VFIO_UPDATE_VADDR ? 1 : 0;
        const joined = c.groups.size > 0;
        if (type1 && !(joined && c.noiommu)) return 1;
        return joined && !c.noiommu ? 0 : noiommu;
      }
      case VFIO_SET_IOMMU: {
        if (c.groups.size === 0 || c.iommu || c.noiommuDriver) throw einval('VFIO_SET_IOMMU');
        const type = Number((a as { value: bigint }).value);
        // vfio_ioctl_set_iommu tries only the drivers the groups allow; none that answers → ENODEV.
        if (c.noiommu) {
          if (type !== VFIO_NOIOMMU_IOMMU) throw errnoError('ENODEV', 'ioctl', 'VFIO_SET_IOMMU (a no-IOMMU container takes only VFIO_NOIOMMU_IOMMU)');
          if (!this.#caps.sysRawio) throw errnoError('EPERM', 'ioctl', 'VFIO_SET_IOMMU (no-IOMMU needs CAP_SYS_RAWIO)');
          c.noiommuDriver = true;
          return 0;
        }
        if (type !== VFIO_TYPE1_IOMMU && type !== VFIO_TYPE1v2_IOMMU) throw errnoError('ENODEV', 'ioctl', 'VFIO_SET_IOMMU');
        c.iommu = new FakeIommu(this.#iommuConfig, type === VFIO_TYPE1v2_IOMMU, this.#memlock);
        return 0;
      }
      case VFIO_IOMMU_GET_INFO: {
        // The no-IOMMU driver's ioctl knows only CHECK_EXTENSION.
        if (c.noiommuDriver) throw errnoError('ENOTTY', 'ioctl', 'VFIO_IOMMU_GET_INFO (no-IOMMU container)');
        if (!c.iommu) throw einval('VFIO_IOMMU_GET_INFO');
        const { bytes, argsz } = a as { bytes: Uint8Array; argsz: number };
        if (argsz < 16) throw einval('VFIO_IOMMU_GET_INFO');
        return writeIommuInfo(bytes, argsz, c.iommu);
      }
    }
    throw einval('container ioctl');
  }

  #groupIoctl(g: KGroup, request: number, a: CheckedArg): number {
    const einval = (what: string) => errnoError('EINVAL', 'ioctl', what);
    switch (request) {
      case VFIO_GROUP_GET_STATUS: {
        const { bytes, argsz } = a as { bytes: Uint8Array; argsz: number };
        if (argsz < 8) throw einval('VFIO_GROUP_GET_STATUS');
        const flags = (this.#viable(g) ? VFIO_GROUP_FLAGS_VIABLE : 0) | (g.container ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
        new DataView(bytes.buffer, bytes.byteOffset).setUint32(4, flags, true);
        return 0;
      }
      case VFIO_GROUP_SET_CONTAINER: {
        const cfd = Number((a as { value: bigint }).value);
        if (g.container) throw einval('VFIO_GROUP_SET_CONTAINER');
        const ce = this.#fds.get(cfd);
        if (!ce) throw errnoError('EBADF', 'ioctl', 'VFIO_GROUP_SET_CONTAINER');
        if (ce.kind === 'iommufd') throw errnoError('EOPNOTSUPP', 'ioctl', 'VFIO_GROUP_SET_CONTAINER with an iommufd (its VFIO compatibility) is not modelled');
        // Since 6.2 an fd that is neither a container nor an iommufd is EBADFD.
        if (ce.kind !== 'container') throw this.#iommufd ? errnoError('EBADFD', 'ioctl', 'VFIO_GROUP_SET_CONTAINER') : einval('VFIO_GROUP_SET_CONTAINER');
        // vfio_container_attach_group
        if (g.noiommu && !this.#caps.sysRawio) throw errnoError('EPERM', 'ioctl', 'VFIO_GROUP_SET_CONTAINER (no-IOMMU needs CAP_SYS_RAWIO)');
        if (ce.c.groups.size > 0 && ce.c.noiommu !== g.noiommu) throw errnoError('EPERM', 'ioctl', 'VFIO_GROUP_SET_CONTAINER (IOMMU and no-IOMMU groups do not mix)');
        // A group with a device bound to a kernel driver is refused.
        if (!this.#viable(g)) throw errnoError('EPERM', 'ioctl', 'VFIO_GROUP_SET_CONTAINER');
        g.container = ce.c;
        ce.c.groups.add(g);
        ce.c.noiommu = g.noiommu;
        return 0;
      }
      case VFIO_GROUP_UNSET_CONTAINER: {
        if (!g.container) throw einval('VFIO_GROUP_UNSET_CONTAINER');
        if (g.devices.some((d) => d.opens > 0)) throw errnoError('EBUSY', 'ioctl', 'VFIO_GROUP_UNSET_CONTAINER');
        this.#detach(g);
        return 0;
      }
      case VFIO_GROUP_GET_DEVICE_FD: {
        if (!g.container || !(g.container.iommu || g.container.noiommuDriver)) throw einval('VFIO_GROUP_GET_DEVICE_FD');
        if (g.noiommu && !this.#caps.sysRawio) throw errnoError('EPERM', 'ioctl', 'VFIO_GROUP_GET_DEVICE_FD (no-IOMMU needs CAP_SYS_RAWIO)');
        const name = (a as { value: string }).value;
        const d = g.devices.find((x) => x.address === name && x.driver === 'vfio-pci');
        if (!d) throw errnoError('ENODEV', 'ioctl', 'VFIO_GROUP_GET_DEVICE_FD');
        d.opens++;
        return this.#newFd({ kind: 'device', d });
      }
    }
    throw einval('group ioctl');
  }

  #deviceIoctl(d: KDevice, request: number, a: CheckedArg): number {
    const einval = (what: string) => errnoError('EINVAL', 'ioctl', what);
    const view = () => {
      const { bytes } = a as { bytes: Uint8Array };
      return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    };
    const argsz = () => (a as { argsz: number }).argsz;
    switch (request) {
      case VFIO_DEVICE_GET_INFO: {
        if (argsz() < 16) throw einval('VFIO_DEVICE_GET_INFO');
        const v = view();
        v.setUint32(4, VFIO_DEVICE_FLAGS_PCI | (d.model.resettable ? VFIO_DEVICE_FLAGS_RESET : 0), true);
        v.setUint32(8, VFIO_PCI_NUM_REGIONS, true);
        v.setUint32(12, VFIO_PCI_NUM_IRQS, true);
        if (argsz() >= 20) v.setUint32(16, 0, true);
        return 0;
      }
      case VFIO_DEVICE_GET_REGION_INFO:
        if (argsz() < 32) throw einval('VFIO_DEVICE_GET_REGION_INFO');
        return this.#regionInfo(d, (a as { bytes: Uint8Array }).bytes, argsz());
      case VFIO_DEVICE_GET_IRQ_INFO: {
        if (argsz() < 16) throw einval('VFIO_DEVICE_GET_IRQ_INFO');
        const v = view();
        const info = d.irq.info(v.getUint32(8, true));
        v.setUint32(4, info.flags, true);
        v.setUint32(12, info.count, true);
        return 0;
      }
      case VFIO_DEVICE_SET_IRQS: {
        if (argsz() < IRQ_SET_HEADER) throw einval('VFIO_DEVICE_SET_IRQS');
        const v = view();
        const { bytes } = a as { bytes: Uint8Array };
        d.irq.set(
          { flags: v.getUint32(4, true), index: v.getUint32(8, true), start: v.getUint32(12, true), count: v.getUint32(16, true), data: bytes.subarray(IRQ_SET_HEADER, argsz()) },
          (fd) => {
            const e = this.#fds.get(fd);
            if (!e) throw errnoError('EBADF', 'ioctl', 'VFIO_DEVICE_SET_IRQS');
            if (e.kind !== 'eventfd') throw einval('VFIO_DEVICE_SET_IRQS');
            return e.e;
          },
        );
        return 0;
      }
      case VFIO_DEVICE_RESET:
        if (!d.model.resettable) throw einval('VFIO_DEVICE_RESET');
        d.model.reset?.();
        d.config.write(0x04, 2, 0);
        return 0;
      case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
      case VFIO_DEVICE_PCI_HOT_RESET:
        if (argsz() < 12) throw einval('VFIO_DEVICE_PCI_HOT_RESET');
        throw errnoError('ENODEV', 'ioctl', 'hot reset is not modelled (no slot or bus reset)');
      // The cdev's own requests: on a device fd from a group, BIND is refused by
      // vfio_df_ioctl_bind_iommufd and ATTACH/DETACH reach vfio-pci, which knows them not.
      case VFIO_DEVICE_BIND_IOMMUFD:
        throw einval('VFIO_DEVICE_BIND_IOMMUFD (a device fd from a group cannot bind)');
      case VFIO_DEVICE_ATTACH_IOMMUFD_PT:
      case VFIO_DEVICE_DETACH_IOMMUFD_PT:
        throw errnoError('ENOTTY', 'ioctl', 'only a device opened through its cdev attaches to an IOAS');
    }
    throw einval('device ioctl');
  }

  #regionInfo(d: KDevice, bytes: Uint8Array, argsz: number): number {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const index = v.getUint32(8, true);
    if (index >= VFIO_PCI_NUM_REGIONS) throw errnoError('EINVAL', 'ioctl', 'VFIO_DEVICE_GET_REGION_INFO');
    let size = 0;
    let flags = 0;
    let msixMappable = false;
    if (index <= 5) {
      const bar = d.model.bars[index];
      size = bar?.size ?? 0;
      if (size) {
        flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        if (bar!.kind !== 'io' && size >= PAGE) {
          flags |= VFIO_REGION_INFO_FLAG_MMAP;
          const cap = d.config.msixCap;
          if (cap !== undefined && (new DataView(d.config.bytes.buffer).getUint32(cap + 4, true) & 7) === index) msixMappable = true;
        }
      }
    } else if (index === VFIO_PCI_ROM_REGION_INDEX) {
      size = 0;
    } else if (index === VFIO_PCI_CONFIG_REGION_INDEX) {
      size = d.config.size;
      flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    } else if (index === VFIO_PCI_VGA_REGION_INDEX) {
      throw errnoError('EINVAL', 'ioctl', 'VFIO_DEVICE_GET_REGION_INFO (no VGA)');
    }
    let capOffset = 0;
    if (msixMappable) {
      flags |= VFIO_REGION_INFO_FLAG_CAPS;
      if (argsz < 32 + 8) {
        v.setUint32(0, 32 + 8, true);
      } else {
        capOffset = 32;
        v.setUint16(32, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, true);
        v.setUint16(34, 1, true);
        v.setUint32(36, 0, true);
      }
    }
    v.setUint32(4, flags, true);
    v.setUint32(12, capOffset, true);
    v.setBigUint64(16, BigInt(size), true);
    v.setBigUint64(24, BigInt(index) * BigInt(REGION_SHIFT), true);
    return 0;
  }

  // ---- region I/O --------------------------------------------------------

  #regionIo(fd: number, bytes: Uint8Array, offset: number, write: boolean): number {
    const syscall = write ? 'pwrite' : 'pread';
    argFd(fd, syscall);
    argBytes(bytes, syscall, write ? 'source' : 'target');
    const off64 = argU64(offset, syscall, 'offset');
    if (off64 > BigInt(Number.MAX_SAFE_INTEGER)) throw errnoError('EINVAL', syscall);
    const off = Number(off64);
    const e = this.#entry(fd, syscall);
    if (e.kind === 'eventfd') throw errnoError('ESPIPE', syscall);
    if (e.kind !== 'device') throw errnoError('EINVAL', syscall);
    if (e.cdev && !e.cdev.bound) throw errnoError('EINVAL', syscall, 'the device cdev is not bound to an iommufd yet');
    const d = e.d;
    const index = Math.floor(off / REGION_SHIFT);
    const pos = off % REGION_SHIFT;
    let size: number;
    let access: (at: number, width: 1 | 2 | 4, value?: number) => number;
    if (index <= 5) {
      const bar = d.model.bars[index];
      size = bar?.size ?? 0;
      access = (at, width, value) => {
        if (value === undefined) return Number(d.model.read(index, at, width));
        d.model.write(index, at, width, value);
        return 0;
      };
    } else if (index === VFIO_PCI_CONFIG_REGION_INDEX) {
      size = d.config.size;
      access = (at, width, value) => {
        if (value === undefined) return d.config.read(at, width);
        d.config.write(at, width, value);
        return 0;
      };
    } else {
      throw errnoError('EINVAL', syscall);
    }
    // Config space refuses any access that does not fit (EFAULT); a BAR access is cut short at the end.
    if (index === VFIO_PCI_CONFIG_REGION_INDEX && pos + bytes.byteLength > size) throw errnoError('EFAULT', syscall);
    if (pos >= size) throw errnoError('EINVAL', syscall);
    const count = Math.min(bytes.byteLength, size - pos);
    const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
    // vfio-pci splits an access into naturally aligned 4-, 2- and 1-byte pieces.
    let done = 0;
    while (done < count) {
      const at = pos + done;
      const left = count - done;
      const width: 1 | 2 | 4 = left >= 4 && at % 4 === 0 ? 4 : left >= 2 && at % 2 === 0 ? 2 : 1;
      if (write) {
        const value = width === 4 ? dv.getUint32(done, true) : width === 2 ? dv.getUint16(done, true) : dv.getUint8(done);
        access(at, width, value);
      } else {
        const value = access(at, width);
        if (width === 4) dv.setUint32(done, value >>> 0, true);
        else if (width === 2) dv.setUint16(done, value & 0xffff, true);
        else dv.setUint8(done, value & 0xff);
      }
      done += width;
    }
    return count;
  }

  pread(fd: number, target: Uint8Array, offset: number): number {
    return this.#regionIo(fd, target, offset, false);
  }

  pwrite(fd: number, source: Uint8Array, offset: number): number {
    return this.#regionIo(fd, source, offset, true);
  }

  mmap(fd: number, offset: number, length: number, prot: number): ArrayBuffer {
    argFd(fd, 'mmap');
    const off = argU64(offset, 'mmap', 'offset');
    const len = argU64(length, 'mmap', 'length');
    const p = argU64(prot, 'mmap', 'prot');
    if (len === 0n) throw new RangeError('mmap: length must be greater than 0');
    if (off % BigInt(PAGE)) throw new RangeError('mmap: offset must be a multiple of the page size');
    if (p === 0n || p & ~3n) throw new RangeError('mmap: prot must be PROT_READ, PROT_WRITE or both');
    const e = this.#entry(fd, 'mmap');
    if (e.kind !== 'device') throw errnoError('ENODEV', 'mmap');
    if (e.cdev && !e.cdev.bound) throw errnoError('EINVAL', 'mmap', 'the device cdev is not bound to an iommufd yet');
    throw errnoError('ENODEV', 'mmap', 'the fake kernel traps BAR accesses; they go through pread/pwrite');
  }

  munmap(buffer: ArrayBuffer): void {
    if (!(buffer instanceof ArrayBuffer)) throw new TypeError('munmap: buffer must be an ArrayBuffer returned by mmap or dmaAlloc');
    if (this.#mems.has(buffer)) throw new TypeError('munmap: this is DMA memory; release it with dmaFree');
    throw new TypeError('munmap: buffer was not returned by mmap/dmaAlloc, or was already released');
  }

  // ---- DMA memory --------------------------------------------------------

  dmaAlloc(length: number, huge: HugePages): DmaAllocation {
    const len64 = argU64(length, 'dmaAlloc', 'length');
    if (len64 === 0n) throw new RangeError('dmaAlloc: length must be greater than 0');
    if (huge !== 'never' && huge !== 'prefer' && huge !== 'require') throw new RangeError(`dmaAlloc: hugepages must be 'never', 'prefer' or 'require'`);
    if (len64 > 1n << 40n) throw errnoError('ENOMEM', 'mmap', 'DMA memory');
    length = Number(len64);
    let pageSize = PAGE;
    if (huge !== 'never') {
      const need = Math.ceil(length / 2 ** 21);
      if (need <= this.#hugepages) {
        this.#hugepages -= need;
        pageSize = 2 ** 21;
      } else if (huge === 'require') {
        throw errnoError('ENOMEM', 'mmap', '2 MiB hugepages (see /proc/sys/vm/nr_hugepages)');
      }
    }
    let buffer: ArrayBuffer;
    try {
      buffer = new ArrayBuffer(Math.ceil(length / pageSize) * pageSize);
    } catch {
      this.#hugepages += pageSize === PAGE ? 0 : Math.ceil(length / pageSize);
      throw errnoError('ENOMEM', 'mmap', 'DMA memory');
    }
    const hugepages = pageSize === PAGE ? 0 : buffer.byteLength / pageSize;
    const phys = this.#phys.place(pageSize, buffer.byteLength / pageSize);
    const mem: FakeMem = { buffer, bytes: new Uint8Array(buffer), maps: 0, hugepages, phys, mlocked: 0 };
    this.#mems.set(buffer, mem);
    this.#phys.add(mem);
    return { buffer, pageSize };
  }

  #mem(buffer: ArrayBuffer, fn: string): FakeMem {
    const m = buffer instanceof ArrayBuffer ? this.#mems.get(buffer) : undefined;
    if (!(buffer instanceof ArrayBuffer)) throw new TypeError(`${fn}: buffer must be an ArrayBuffer returned by mmap or dmaAlloc`);
    if (!m) throw new TypeError(`${fn}: buffer was not returned by mmap/dmaAlloc, or was already released`);
    return m;
  }

  dmaFree(buffer: ArrayBuffer): void {
    const m = this.#mem(buffer, 'dmaFree');
    if (m.maps > 0) throw errnoError('EBUSY', 'dmaFree', `${m.maps} IOMMU mapping(s) still name this memory; unmap them first`);
    this.#mems.delete(buffer);
    this.#hugepages += m.hugepages;
    this.#phys.remove(m);
    this.#memlock.locked -= m.mlocked;
    structuredClone(buffer, { transfer: [buffer] }); // detaches: every view becomes empty
  }

  dmaMap(fd: number, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void {
    argFd(fd, 'dmaMap');
    const m = this.#mem(buffer, 'dmaMap');
    const off = argU64(offset, 'dmaMap', 'offset');
    const sz = argU64(size, 'dmaMap', 'size');
    const io = argU64(iova, 'dmaMap', 'iova');
    const fl = argU64(flags, 'dmaMap', 'flags');
    const len = BigInt(m.bytes.length);
    if (off > len || sz > len - off) throw new RangeError(`dmaMap: offset ${off} + size ${sz} is outside the ${len}-byte buffer`);
    if (fl & ~3n) throw new RangeError('dmaMap: flags may only hold READ (1) and WRITE (2)');
    const c = this.#container(fd, 'VFIO_IOMMU_MAP_DMA');
    if (c.noiommuDriver) throw errnoError('ENOTTY', 'ioctl', 'VFIO_IOMMU_MAP_DMA (no-IOMMU container: there is nothing to map)');
    if (!c.iommu) throw errnoError('EINVAL', 'ioctl', 'VFIO_IOMMU_MAP_DMA');
    c.iommu.map(m, Number(off), sz, io, Number(fl));
  }

  dmaUnmap(fd: number, iova: bigint, size: bigint, flags: number): bigint {
    argFd(fd, 'dmaUnmap');
    const io = argU64(iova, 'dmaUnmap', 'iova');
    const sz = argU64(size, 'dmaUnmap', 'size');
    const fl = flags === undefined ? 0n : argU64(flags, 'dmaUnmap', 'flags');
    if (fl & ~2n) throw new RangeError('dmaUnmap: flags may only hold UNMAP_ALL (2)');
    const c = this.#container(fd, 'VFIO_IOMMU_UNMAP_DMA');
    if (c.noiommuDriver) throw errnoError('ENOTTY', 'ioctl', 'VFIO_IOMMU_UNMAP_DMA (no-IOMMU container)');
    if (!c.iommu) throw errnoError('EINVAL', 'ioctl', 'VFIO_IOMMU_UNMAP_DMA');
    return c.iommu.unmap(io, sz, Number(fl));
  }

  // ---- iommufd IOAS mappings and no-IOMMU physical addresses -------------

  ioasMap(iommufd: number, ioas: number, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void {
    // native/dmamap.cc IoasMap, check for check.
    argFd(iommufd, 'ioasMap');
    const id = argIoas(ioas, 'ioasMap');
    const off = argU64(offset, 'ioasMap', 'offset');
    const sz = argU64(size, 'ioasMap', 'size');
    const io = argU64(iova, 'ioasMap', 'iova');
    const fl = argU64(flags, 'ioasMap', 'flags');
    const m = this.#mem(buffer, 'ioasMap');
    const len = BigInt(m.bytes.length);
    if (off > len || sz > len - off) throw new RangeError(`ioasMap: offset ${off} + size ${sz} is outside the ${len}-byte buffer`);
    if (fl & ~BigInt(IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) throw new RangeError('ioasMap: flags may only hold WRITEABLE (2) and READABLE (4)');
    this.#iommufdCtx(iommufd, 'IOMMU_IOAS_MAP').ioas(id, 'IOMMU_IOAS_MAP').map(m, Number(off), sz, io, Number(fl));
  }

  ioasUnmap(iommufd: number, ioas: number, iova: bigint, length: bigint): bigint {
    argFd(iommufd, 'ioasUnmap');
    const id = argIoas(ioas, 'ioasUnmap');
    const io = argU64(iova, 'ioasUnmap', 'iova');
    const len = argU64(length, 'ioasUnmap', 'length');
    return this.#iommufdCtx(iommufd, 'IOMMU_IOAS_UNMAP').ioas(id, 'IOMMU_IOAS_UNMAP').unmap(io, len);
  }

  ioasIovaRanges(iommufd: number, ioas: number): IoasRanges {
    argFd(iommufd, 'ioasIovaRanges');
    const id = argIoas(ioas, 'ioasIovaRanges');
    const s = this.#iommufdCtx(iommufd, 'IOMMU_IOAS_IOVA_RANGES').ioas(id, 'IOMMU_IOAS_IOVA_RANGES');
    return { ranges: s.ranges, alignment: s.alignment };
  }

  dmaPhysical(buffer: ArrayBuffer): BigUint64Array {
    const m = this.#mem(buffer, 'dmaPhysical');
    // mlock() first, as the shim does: it counts against RLIMIT_MEMLOCK like pinning.
    if (m.mlocked === 0) {
      if (this.#memlock.limit === 0) throw errnoError('EPERM', 'mlock', 'DMA memory for no-IOMMU mode');
      if (this.#memlock.locked + m.bytes.length > this.#memlock.limit) throw errnoError('ENOMEM', 'mlock', 'DMA memory for no-IOMMU mode');
      this.#memlock.locked += m.bytes.length;
      m.mlocked = m.bytes.length;
    }
    if (!this.#caps.sysAdmin) throw errnoError('EPERM', 'dmaPhysical', '/proc/self/pagemap hides frame numbers without CAP_SYS_ADMIN');
    return this.#phys.addresses(m);
  }

  #iommufdCtx(fd: number, what: string): FakeIommufd {
    const e = this.#entry(fd, 'ioctl');
    if (e.kind !== 'iommufd') {
      const kind = e.kind === 'eventfd' ? 'other' : e.kind;
      throw errnoError('ENOTTY', 'ioctl', `${what}: fd ${fd} is a ${kindName(kind)}, not a iommufd`);
    }
    return e.ctx;
  }

  #container(fd: number, what: string): KContainer {
    const e = this.#entry(fd, 'ioctl');
    if (e.kind !== 'container') {
      const kind = e.kind === 'eventfd' ? 'other' : e.kind;
      throw errnoError('ENOTTY', 'ioctl', `${what}: fd ${fd} is a ${kindName(kind)}, not a VFIO container`);
    }
    return e.c;
  }

  // ---- eventfds ----------------------------------------------------------

  eventfd(): number {
    return this.#newFd({ kind: 'eventfd', e: new FakeEventfd() });
  }

  #eventfd(fd: number, syscall: string): FakeEventfd {
    argFd(fd, syscall);
    const e = this.#entry(fd, syscall);
    if (e.kind !== 'eventfd') throw errnoError('EINVAL', syscall, 'not an eventfd');
    return e.e;
  }

  eventfdWrite(fd: number, value: number): void {
    const v = value === undefined ? 1n : argU64(value, 'eventfdWrite', 'value');
    if (v === 0n || v === (1n << 64n) - 1n) throw new RangeError('eventfdWrite: value must be in [1, 2^64-2]');
    this.#eventfd(argFd(fd, 'eventfdWrite'), 'write').signal(v);
  }

  eventfdRead(fd: number): number | null {
    const v = this.#eventfd(fd, 'read').read();
    return v === null ? null : Number(v);
  }

  poll(fd: number, callback: EventCallback): EventPoller {
    argFd(fd, 'Poller');
    if (typeof callback !== 'function') throw new TypeError('Poller: callback must be a function');
    const e = this.#eventfd(fd, 'uv_poll_init');
    return new FakePoller(e, callback, () => this.#fds.delete(fd));
  }
}

function kindName(k: FdKind | 'other'): string {
  return k === 'other' ? 'non-VFIO file' : k === 'iommufd' ? 'iommufd' : `VFIO ${k}`;
}

/** native/dmamap.cc ArgIoas: an IOAS id is in [1, 2^32). */
function argIoas(v: unknown, fn: string): number {
  const id = argU64(v, fn, 'ioas');
  if (id === 0n || id > 0xffffffffn) throw new RangeError(`${fn}: ioas must be an IOAS id in [1, 2^32)`);
  return Number(id);
}

/** VFIO_IOMMU_GET_INFO: page sizes, and the IOVA-range and DMA-avail caps when argsz allows. */
function writeIommuInfo(bytes: Uint8Array, argsz: number, iommu: FakeIommu): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ranges = iommu.config.ranges;
  const rangeCap = 16 + 16 * ranges.length; // header, nr_iovas, reserved, ranges
  const availCap = 12;
  const head = 24;
  const need = head + rangeCap + ((availCap + 7) & ~7);
  const flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
  v.setBigUint64(8, iommu.config.pgsizes, true);
  if (argsz < need) {
    v.setUint32(0, need, true);
    if (argsz >= 20) v.setUint32(16, 0, true);
  } else {
    v.setUint32(16, head, true);
    let at = head;
    v.setUint16(at, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, true);
    v.setUint16(at + 2, 1, true);
    v.setUint32(at + 4, head + rangeCap, true);
    v.setUint32(at + 8, ranges.length, true);
    ranges.forEach((r, i) => {
      v.setBigUint64(at + 16 + 16 * i, r.start, true);
      v.setBigUint64(at + 24 + 16 * i, r.end, true);
    });
    at = head + rangeCap;
    v.setUint16(at, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, true);
    v.setUint16(at + 2, 1, true);
    v.setUint32(at + 4, 0, true);
    v.setUint32(at + 8, iommu.dmaAvail, true);
  }
  v.setUint32(4, flags, true);
  return 0;
}
