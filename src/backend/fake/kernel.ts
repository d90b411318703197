// The fake kernel's system-call entry points (the class doc says what it emulates); the
// file table and its handles are in files.ts and handle.ts. Each kind of file is emulated
// where the kernel keeps it: container.ts and type1.ts, group.ts, vfio-pci.ts and
// region-io.ts, cdev.ts, iommufd.ts and ioas.ts, eventfd.ts; the /dev nodes in dev-nodes.ts.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, DmaAllocation, EventCallback, EventPoller, FdHandle, HugePages, IoasRanges } from '../backend.js';
import { checkIoctlArg, checkRequest, findAllowed } from '../allowlist.js';
import { errnoError } from './errno.js';
import { argBindToken, argDeviceName, argOpenFlags, argU64, EVENTFD_READ_MAX, eventfdTooLarge } from '../args.js';
import { deviceBus, type RecordedFault } from './bus.js';
import { bindIommufd, cdevIoctl, releaseCdev } from './cdev.js';
import { VirtualConfig } from './config.js';
import { containerIoctl, releaseContainer } from './container.js';
import { DmaPool } from './dma-pool.js';
import { dmaMap, dmaUnmap, ioasIovaRanges, ioasMap, ioasUnmap } from './dmamap.js';
import { FakeEventfd, FakePoller } from './eventfd.js';
import { groupGetDeviceFd, groupIoctl, releaseGroup, releaseGroupDevice, removeGroup } from './group.js';
import { openDevNode, refreshDevNode, refreshVfioDevice } from './dev-nodes.js';
import { IrqState } from './irq.js';
import type { DeviceModel } from './model.js';
import { FileTable } from './files.js';
import { fileKindName, type FdEntry, type GroupFile, type KDevice, type KernelContext, type KGroup } from './objects.js';
import type { AddDeviceOptions, FakeKernelOptions } from './options.js';
import { mmapRegion, regionIo } from './region-io.js';
import { SysfsTree } from './sysfs.js';
import { writeSysfs } from './sysfs-write.js';
import { sriovOf, storeNumVfs, vfAddress } from './sriov.js';
import { newVfToken } from './vf-token.js';
import { deviceIoctl } from './vfio-pci.js';
import { PCI_CLASS_REVISION, PCI_DEVICE_ID, PCI_SRIOV_VF_DID, PCI_VENDOR_ID } from '../../uapi/pci-regs.js';

export type { AddDeviceOptions, FakeKernelOptions } from './options.js';
export type { RecordedFault } from './bus.js';

/**
 * A fake Linux kernel behind the Backend interface, for running VFIO drivers with no IOMMU
 * and no device: /dev/vfio with the legacy container/group/device API, vfio-pci's region,
 * config and IRQ semantics, the type1 IOMMU, eventfds, and a sysfs tree on disk (under
 * `root`) for discovery; optionally iommufd with device cdevs, and no-IOMMU mode. Device
 * models (EduModel, E1000eModel, your own DeviceModel) plug in with addDevice(); pass
 * `kernel.options` to openDevice and friends.
 *
 * Where it differs from the real kernel: BAR accesses are trapped (a model sees every
 * access), so mmap of a BAR fails with ENODEV and Region falls back to pread/pwrite; hot
 * reset is not modelled (ENODEV).
 */
export class FakeKernel implements Backend {
  readonly name = 'fake';
  readonly pageSize = 4096;
  /** A fresh temporary directory holding the fake sysfs and /dev tree: the `root` option to pass on. */
  readonly root: string;
  /** IOMMU faults the device models caused, oldest first. */
  readonly faults: RecordedFault[] = [];
  #sys: SysfsTree;
  #fds = new FileTable(this, (e) => this.#release(e));
  #groups = new Map<number, KGroup>();
  #devices = new Map<string, KDevice>();
  /** Devices an unbind waits for: the last close of one finishes its unbind. */
  #unbinding = new Map<KDevice, () => void>();
  #ctx: KernelContext;
  #pool: DmaPool;

  constructor(options: FakeKernelOptions = {}) {
    this.root = mkdtempSync(join(tmpdir(), 'vfio-fake-'));
    this.#sys = new SysfsTree(this.root);
    const caps = { sysRawio: options.capSysRawio ?? true, sysAdmin: options.capSysAdmin ?? true };
    const memlock = { limit: options.memlockLimit ?? Infinity, locked: 0 };
    this.#ctx = {
      iommuConfig: {
        pgsizes: options.pgsizes ?? 0x40201000n,
        ranges: options.iovaRanges ?? [
          { start: 0n, end: 0xfedfffffn },
          { start: 0xfef00000n, end: (1n << 39n) - 1n },
        ],
        dmaEntryLimit: options.dmaEntryLimit ?? 65535,
      },
      memlock,
      caps,
      iommufd: options.iommufd ?? false,
      cdevBind: options.cdevBind ?? '6.12',
      noIommu: options.noIommu ?? false,
      vfioPci: { enableSriov: options.vfioPciEnableSriov ?? false },
      file: (fd) => this.#fds.get(fd),
      install: (entry) => this.#fds.install(entry),
    };
    this.#pool = new DmaPool(options.hugepages ?? 0, memlock, caps);
    if (this.#ctx.noIommu) this.#sys.setModuleParam('vfio', 'enable_unsafe_noiommu_mode', 'Y');
    else this.#sys.addIommuUnit('dmar0');
    if (this.#ctx.iommufd) {
      this.#sys.setNode('dev/iommu', true);
      mkdirSync(join(this.root, 'dev/vfio/devices'), { recursive: true });
    }
    this.#sys.setDevNode('vfio', true);
    this.#sys.setModuleParam('vfio_pci', 'enable_sriov', this.#ctx.vfioPci.enableSriov ? 'Y' : 'N');
  }

  /** Options for openDevice/Container.open (and the sysfs readers and writers) that select this kernel. */
  get options(): {
    /** This kernel. */
    backend: FakeKernel;
    /** Its sysfs and /dev tree. */
    root: string;
    /** Its sysfs writes (writeSysfs): for bindVfioPci, enableSriov and the like. */
    write: (path: string, data: string) => void;
  } {
    return { backend: this, root: this.root, write: this.#write };
  }

  #write = (path: string, data: string): void => this.writeSysfs(path, data);

  /** Open file descriptors of this kernel (containers, groups, devices, eventfds). */
  get openFds(): number {
    return this.#fds.size;
  }

  /** Grants or drops a capability of the process using this kernel. */
  setCapability(cap: 'CAP_SYS_RAWIO' | 'CAP_SYS_ADMIN', on: boolean): void {
    if (cap === 'CAP_SYS_RAWIO') this.#ctx.caps.sysRawio = on;
    else this.#ctx.caps.sysAdmin = on;
  }

  /** Sets RLIMIT_MEMLOCK for subsequent mappings (bytes; Infinity acts like CAP_IPC_LOCK). */
  setMemlockLimit(bytes: number): void {
    this.#ctx.memlock.limit = bytes;
  }

  memlockLimit(): number {
    return this.#ctx.memlock.limit;
  }
  /** Bytes of DMA memory pinned now, as counted against the memlock limit. */
  get lockedBytes(): number {
    return this.#ctx.memlock.locked;
  }

  /** Plugs a device model in at a PCI address. A model with an SR-IOV capability is a PF: see writeSysfs. */
  addDevice(address: string, model: DeviceModel, opts: AddDeviceOptions = {}): void {
    if (this.#devices.has(address)) throw new Error(`FakeKernel.addDevice: ${address} already exists`);
    const driver = opts.driver === undefined ? 'vfio-pci' : opts.driver;
    this.#plug(address, model, { group: opts.group, driver, probeDriver: driver === 'vfio-pci' ? null : driver, physfn: null, sriov: opts });
  }

  #plug(
    address: string,
    model: DeviceModel,
    o: { group: number | undefined; driver: string | null; probeDriver: string | null; physfn: KDevice | null; sriov?: AddDeviceOptions },
  ): KDevice {
    const id = o.group ?? Math.max(-1, ...this.#groups.keys()) + 1;
    let group = this.#groups.get(id);
    if (!group) {
      group = { id, devices: [], open: false, container: null, noiommu: this.#ctx.noIommu, cdevBound: 0 };
      this.#groups.set(id, group);
      // vfio_noiommu_group_alloc names its groups so.
      if (group.noiommu) this.#sys.setGroupName(id, 'vfio-noiommu');
    }
    const config = new VirtualConfig(model.config, model.bars);
    // The user's view of the MSI/MSI-X enable bits is virtualised: SET_IRQS does not show there.
    const irq = new IrqState(config.irqCounts, () => {});
    const sriov = o.physfn ? null : sriovOf(config, o.sriov ?? {});
    const { driver } = o;
    const d: KDevice = { address, model, group, driver, config, irq, opens: 0, index: null, cdev: null, sriov, physfn: o.physfn, probeDriver: o.probeDriver, override: null };
    if (sriov && driver === 'vfio-pci') sriov.token = newVfToken();
    group.devices.push(d);
    this.#devices.set(address, d);
    const classCode = config.read(PCI_CLASS_REVISION, 4) >>> 8;
    this.#sys.addDevice({ address, vendor: config.read(PCI_VENDOR_ID, 2), device: config.read(PCI_DEVICE_ID, 2), classCode, driver, group: id });
    if (sriov) this.#sysSriov(d);
    refreshDevNode(this.#sys, group);
    refreshVfioDevice(this.#sys, this.#devices.values(), this.#ctx, d);
    model.attach(deviceBus(d, this.#pool.phys, this.faults));
    return d;
  }

  #sysSriov(pf: KDevice): void {
    const s = pf.sriov!;
    const vfDevice = pf.config.read(s.cap + PCI_SRIOV_VF_DID, 2);
    this.#sys.setSriov(pf.address, { totalVfs: s.totalVfs, numVfs: s.vfs.length, autoprobe: s.autoprobe, offset: s.offset, stride: s.stride, vfDevice });
  }

  /** pci_enable_sriov: VFs at their routing IDs, each in a group of its own, probed as autoprobe says. */
  #enableVfs(pf: KDevice, n: number): void {
    const s = pf.sriov!;
    const create = pf.model.createVf?.bind(pf.model);
    if (!create) throw errnoError('EIO', 'write', `sriov_numvfs (the model of ${pf.address} has no createVf)`);
    for (let i = 0; i < n; i++) {
      const address = vfAddress(pf.address, s, i);
      if (this.#devices.has(address)) throw errnoError('EBUSY', 'write', `sriov_numvfs (${address} exists already)`);
    }
    for (let i = 0; i < n; i++) {
      const address = vfAddress(pf.address, s, i);
      // vfio_pci_bus_notifier: a vfio-pci PF's new VFs get driver_override=vfio-pci.
      const onVfio = pf.driver === 'vfio-pci';
      const vf = this.#plug(address, create(i, n), { group: undefined, driver: null, probeDriver: s.vfDriver, physfn: pf });
      if (onVfio) {
        vf.override = 'vfio-pci';
        this.#sys.setOverride(address, 'vfio-pci');
      }
      s.vfs.push(vf);
      this.#sys.linkVf(pf.address, i, address);
      const want = vf.override ?? vf.probeDriver;
      if (s.autoprobe && want !== null) this.#setDriver(vf, want);
    }
    this.#sysSriov(pf);
  }

  /** pci_disable_sriov: the VFs go away, last first (their drivers unbound, their groups with them). */
  #disableVfs(pf: KDevice): void {
    const s = pf.sriov!;
    for (let i = s.vfs.length - 1; i >= 0; i--) {
      const vf = s.vfs[i]!;
      if (vf.driver !== null) this.#setDriver(vf, null);
      vf.model.dispose?.();
      vf.group.devices = vf.group.devices.filter((x) => x !== vf);
      if (vf.group.devices.length === 0) this.#groups.delete(vf.group.id);
      this.#devices.delete(vf.address);
      this.#sys.linkVf(pf.address, i, null);
      this.#sys.removeDevice(vf.address, vf.group.devices.length === 0 ? vf.group.id : null);
      refreshDevNode(this.#sys, vf.group);
    }
    s.vfs = [];
    this.#sysSriov(pf);
  }

  /** Binds (or unbinds, null) as the driver core and vfio-pci do; errno errors for what they refuse. */
  #setDriver(d: KDevice, driver: string | null): void {
    if (d.driver === driver) return;
    if (d.opens > 0) throw errnoError('EBUSY', 'write', `${d.address} is open through VFIO (the kernel would wait for its user)`);
    const s = d.sriov;
    // vfio_pci_core_register_device: "Cannot bind to PF with SR-IOV enabled".
    if (driver === 'vfio-pci' && s && s.vfs.length > 0) throw errnoError('EBUSY', 'write', `${d.address}: cannot bind vfio-pci to a PF with SR-IOV enabled`);
    // Unbinding a PF's driver disables SR-IOV first (pci_disable_sriov in the driver's remove).
    if (s && s.vfs.length > 0 && d.driver !== null) {
      if (s.vfs.some((v) => v.opens > 0)) throw errnoError('EBUSY', 'write', `${d.address}: a VF is open through VFIO (the kernel would wait for its user)`);
      this.#disableVfs(d);
    }
    const leaves = d.driver === 'vfio-pci';
    d.driver = driver;
    if (s) s.token = driver === 'vfio-pci' ? newVfToken() : null;
    if (leaves && !d.group.devices.some((x) => x.driver === 'vfio-pci')) {
      const files = [...this.#fds.values()].filter((e): e is GroupFile => e.kind === 'group' && e.g === d.group);
      removeGroup(d.group, files);
    }
    this.#sys.setDriver(d.address, driver);
    refreshDevNode(this.#sys, d.group);
    refreshVfioDevice(this.#sys, this.#devices.values(), this.#ctx, d);
  }

  /** Rebinds a device to another driver (null: none), as writing to sysfs bind/unbind would. */
  bindDriver(address: string, driver: string | null): void {
    const d = this.#devices.get(address);
    if (!d) throw new Error(`FakeKernel.bindDriver: no device ${address}`);
    if (d.opens > 0 && driver !== 'vfio-pci') throw new Error(`FakeKernel.bindDriver: ${address} is open through VFIO`);
    try {
      this.#setDriver(d, driver);
    } catch (e) {
      throw new Error(`FakeKernel.bindDriver: ${(e as Error).message}`);
    }
  }

  /**
   * A write to a sysfs attribute, played as the kernel plays it: a device's driver_override,
   * driver/unbind, sriov_numvfs (VFs made or removed: see AddDeviceOptions.vfDriver) and
   * sriov_drivers_autoprobe; /sys/bus/pci/drivers/<name>/bind and unbind, drivers_probe, and
   * /sys/module/vfio_pci/parameters/enable_sriov. `path` is absolute (under `root`); a refusal
   * is an errno error as from write(2). `options.write` is this function.
   */
  writeSysfs(path: string, data: string): void {
    writeSysfs(this.root, path, data, {
      device: (address) => this.#devices.get(address),
      driverLoaded: (driver) => driver === 'vfio-pci' || [...this.#devices.values()].some((x) => x.driver === driver || x.probeDriver === driver || x.sriov?.vfDriver === driver),
      setDriver: (d, driver) => this.#setDriver(d, driver),
      setOverride: (d, driver) => {
        d.override = driver;
        this.#sys.setOverride(d.address, driver);
      },
      numVfs: (d, text) =>
        storeNumVfs(d, text, this.#ctx.vfioPci.enableSriov, { enable: (pf, n) => this.#enableVfs(pf, n), disable: (pf) => this.#disableVfs(pf) }),
      autoprobe: (d, on) => {
        d.sriov!.autoprobe = on;
        this.#sysSriov(d);
      },
      enableSriov: (on) => {
        this.#ctx.vfioPci.enableSriov = on;
        this.#sys.setModuleParam('vfio_pci', 'enable_sriov', on ? 'Y' : 'N');
      },
    });
  }

  /**
   * Unbinds a device from vfio-pci as the kernel does: while a user holds it, the
   * kernel signals the REQ notifier and waits; the unbind completes once it is closed.
   */
  async unbind(address: string): Promise<void> {
    const d = this.#devices.get(address);
    if (!d) throw new Error(`FakeKernel.unbind: no device ${address}`);
    if (d.opens > 0) {
      d.irq.req?.signal();
      // vfio_unregister_group_dev sleeps until the last device fd is released, and goes on
      // at once: the group is detached before the closing process takes its next step.
      // close() finishes the unbind (bindDriver) when it releases the last fd.
      return new Promise<void>((resolve) => this.#unbinding.set(d, resolve));
    }
    this.bindDriver(address, null);
  }

  /** Stops the models' timers and removes the sysfs tree. */
  dispose(): void {
    for (const d of this.#devices.values()) d.model.dispose?.();
    this.#sys.remove();
  }

  // ---- files -------------------------------------------------------------

  open(path: string, flags?: number): FdHandle {
    if (typeof path !== 'string') throw new TypeError('open: path must be a string');
    if (path.includes('\0')) throw new TypeError('open: path contains a NUL byte');
    argOpenFlags(flags);
    return this.#fds.handle(openDevNode(this.#ctx, this.root, this.#devices.values(), this.#groups, path));
  }

  close(file: FdHandle): void {
    const { h, e } = this.#fds.file(file, 'close', 'close');
    if (e.kind === 'eventfd' && e.e.poller) throw errnoError('EBUSY', 'close', 'an armed poller owns this eventfd; close the poller');
    this.#fds.close(h);
  }

  // The shim's part of close (unmapping what was mapped through the fd, so the memory can be
  // freed even while a group or device keeps the address space), then the kernel's release.
  #release(e: FdEntry): void {
    if (e.kind === 'container') {
      e.c.iommu?.releaseAll();
      releaseContainer(e.c);
    } else if (e.kind === 'group') releaseGroup(e);
    else if (e.kind === 'iommufd') {
      e.ctx.unmapAll();
      e.ctx.closeFd();
    } else if (e.kind === 'device') {
      e.cdev ? releaseCdev(e.cdev) : releaseGroupDevice(e.d);
      const unbinding = this.#unbinding.get(e.d);
      if (unbinding && e.d.opens === 0) {
        this.#unbinding.delete(e.d);
        this.bindDriver(e.d.address, null);
        unbinding();
      }
      if (e.d.group.noiommu && !this.#noiommuDeviceOpen()) this.#pool.releaseParked();
    }
  }

  #noiommuDeviceOpen(): boolean {
    return [...this.#fds.values()].some((e) => e.kind === 'device' && e.d.group.noiommu);
  }

  ioctl(file: FdHandle, request: number, arg?: number | string | Uint8Array | FdHandle): number {
    const { fd, e } = this.#fds.file(file, 'ioctl', 'ioctl');
    checkRequest(request);
    const req = findAllowed(e.kind === 'eventfd' ? 'other' : e.kind, request);
    if (!req) throw errnoError('ENOTTY', 'ioctl', `request not valid on ${fileKindName(e)}`);
    const a = checkIoctlArg(req, arg, (h) => this.#fds.file(h, req.name, 'ioctl', 3).fd);
    switch (e.kind) {
      case 'container':
        return containerIoctl(this.#ctx, e.c, request, a);
      case 'group':
        return groupIoctl(this.#ctx, e, request, a);
      case 'iommufd': {
        const { bytes, argsz } = a as { bytes: Uint8Array; argsz: number };
        return e.ctx.ioctl(request, bytes, argsz);
      }
      case 'device':
        return e.cdev ? cdevIoctl(this.#ctx, e.cdev, request, a) : deviceIoctl(this.#ctx, e.d, request, a);
    }
    throw errnoError('ENOTTY', 'ioctl');
  }

  groupDeviceFd(group: FdHandle, name: string): FdHandle {
    const { e } = this.#fds.file(group, 'groupDeviceFd', 'ioctl');
    argDeviceName(name);
    if (e.kind !== 'group') throw errnoError('ENOTTY', 'ioctl', `VFIO_GROUP_GET_DEVICE_FD: the handle is ${fileKindName(e)}, not a VFIO group`);
    return this.#fds.handle(groupGetDeviceFd(this.#ctx, e, name));
  }

  bindIommufd(device: FdHandle, iommufd: FdHandle, token?: Uint8Array): number {
    const { e } = this.#fds.file(device, 'bindIommufd', 'ioctl');
    const i = this.#fds.file(iommufd, 'bindIommufd', 'ioctl', 2).e;
    const uuid = argBindToken(token);
    const what = 'VFIO_DEVICE_BIND_IOMMUFD';
    if (e.kind !== 'device') throw errnoError('ENOTTY', 'ioctl', `${what}: the handle is ${fileKindName(e)}, not a VFIO device`);
    // iommufd_ctx_from_fd's answer for a file that is no iommufd.
    if (i.kind !== 'iommufd') throw errnoError('EBADFD', 'ioctl', `${what}: argument 2 is ${fileKindName(i)}, not an iommufd`);
    return bindIommufd(this.#ctx, e, i.ctx, uuid);
  }

  // ---- regions and memory --------------------------------------------------

  pread(file: FdHandle, target: Uint8Array, offset: number): number {
    return regionIo(this.#fds.file(file, 'pread', 'pread').e, target, offset, false);
  }

  pwrite(file: FdHandle, source: Uint8Array, offset: number): number {
    return regionIo(this.#fds.file(file, 'pwrite', 'pwrite').e, source, offset, true);
  }

  mmap(file: FdHandle, offset: number, length: number, prot: number): ArrayBuffer {
    return mmapRegion(this.#fds.file(file, 'mmap', 'mmap').e, offset, length, prot);
  }

  munmap(buffer: ArrayBuffer): void {
    if (!(buffer instanceof ArrayBuffer)) throw new TypeError('munmap: buffer must be an ArrayBuffer returned by mmap or dmaAlloc');
    if (this.#pool.has(buffer)) throw new TypeError('munmap: this is DMA memory; release it with dmaFree');
    throw new TypeError('munmap: buffer was not returned by mmap/dmaAlloc, or was already released');
  }

  dmaAlloc(length: number, huge: HugePages): DmaAllocation {
    return this.#pool.alloc(length, huge);
  }

  dmaFree(buffer: ArrayBuffer): void {
    this.#pool.free(buffer, this.#noiommuDeviceOpen());
  }

  dmaPhysical(buffer: ArrayBuffer): BigUint64Array {
    return this.#pool.physical(buffer);
  }

  dmaMap(container: FdHandle, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void {
    dmaMap(this.#pool, this.#fds.file(container, 'dmaMap', 'ioctl'), buffer, offset, size, iova, flags);
  }

  dmaUnmap(container: FdHandle, iova: bigint, size: bigint, flags: number): bigint {
    return dmaUnmap(this.#fds.file(container, 'dmaUnmap', 'ioctl'), iova, size, flags);
  }

  ioasMap(iommufd: FdHandle, ioas: number, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void {
    ioasMap(this.#pool, this.#fds.file(iommufd, 'ioasMap', 'ioctl'), ioas, buffer, offset, size, iova, flags);
  }

  ioasUnmap(iommufd: FdHandle, ioas: number, iova: bigint, length: bigint): bigint {
    return ioasUnmap(this.#fds.file(iommufd, 'ioasUnmap', 'ioctl'), ioas, iova, length);
  }

  ioasIovaRanges(iommufd: FdHandle, ioas: number): IoasRanges {
    return ioasIovaRanges(this.#fds.file(iommufd, 'ioasIovaRanges', 'ioctl'), ioas);
  }

  // ---- eventfds ----------------------------------------------------------

  eventfd(): FdHandle {
    return this.#fds.handle(this.#ctx.install({ kind: 'eventfd', e: new FakeEventfd() }));
  }

  #eventfd(file: FdHandle, fn: string, syscall: string): FakeEventfd {
    const { e } = this.#fds.file(file, fn, syscall);
    if (e.kind !== 'eventfd') throw errnoError('EINVAL', syscall, 'not an eventfd');
    return e.e;
  }

  eventfdWrite(eventfd: FdHandle, value: number): void {
    const e = this.#eventfd(eventfd, 'eventfdWrite', 'write');
    const v = value === undefined ? 1n : argU64(value, 'eventfdWrite', 'value');
    if (v === 0n || v === (1n << 64n) - 1n) throw new RangeError('eventfdWrite: value must be in [1, 2^64-2]');
    e.signal(v);
  }

  eventfdRead(eventfd: FdHandle): number | null {
    const e = this.#eventfd(eventfd, 'eventfdRead', 'read');
    if (e.counter > BigInt(EVENTFD_READ_MAX)) throw eventfdTooLarge(e.counter);
    const v = e.read();
    return v === null ? null : Number(v);
  }

  poll(eventfd: FdHandle, callback: EventCallback): EventPoller {
    const { h, e } = this.#fds.file(eventfd, 'Poller', 'uv_poll_init');
    if (e.kind !== 'eventfd') throw errnoError('EINVAL', 'uv_poll_init', 'not an eventfd');
    if (typeof callback !== 'function') throw new TypeError('Poller: callback must be a function');
    if (e.e.poller) throw errnoError('EBUSY', 'uv_poll_init', 'an armed poller owns this eventfd');
    return new FakePoller(e.e, callback, () => this.#fds.close(h));
  }
}
