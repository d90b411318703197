// How a FakeKernel is built and how devices are plugged into it.

/** How a FakeKernel is built: the machine it pretends to be. */
export interface FakeKernelOptions {
  /** RLIMIT_MEMLOCK in bytes for pinned DMA memory; Infinity (the default) acts like CAP_IPC_LOCK. */
  memlockLimit?: number;
  /** IOVA ranges the IOMMU reports (inclusive); default: Intel VT-d with 39 address bits. */
  iovaRanges?: {
    /** First IOVA of the range. */
    start: bigint;
    /** Last IOVA of the range (inclusive). */
    end: bigint;
  }[];
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
  /**
   * With `iommufd`, how the cdev's VFIO_DEVICE_BIND_IOMMUFD takes a VF token
   * (Backend.bindIommufd's `token`). '6.12', the default (Linux 6.6 to 6.16): it knows no
   * flag, so a token is EINVAL, and it checks none. '6.19' (and 6.18.3): it takes
   * VFIO_DEVICE_BIND_FLAG_TOKEN and checks the token by the group path's rules, on a bind
   * without one too (a VF of a vfio-pci PF is then EACCES). '6.17' (and 6.18 before 6.18.3):
   * checks as '6.19' does, but refuses every token with E2BIG (it read 16 bytes of the struct
   * and wanted the rest zero).
   */
  cdevBind?: '6.12' | '6.17' | '6.19';
  /** No IOMMU hardware, vfio.enable_unsafe_noiommu_mode=1: groups are /dev/vfio/noiommu-N. Default false. */
  noIommu?: boolean;
  /** vfio_pci's enable_sriov parameter: vfio-pci creates VFs of a PF it drives (sriov_numvfs). Default false, as the kernel's. */
  vfioPciEnableSriov?: boolean;
  /** The process has CAP_SYS_RAWIO (no-IOMMU groups need it); default true. */
  capSysRawio?: boolean;
  /** The process has CAP_SYS_ADMIN (/proc/self/pagemap shows frame numbers, for dmaPhysical); default true. */
  capSysAdmin?: boolean;
}

/** Where FakeKernel.addDevice puts a device: its IOMMU group and driver. */
export interface AddDeviceOptions {
  /** IOMMU group number; default: a new group of its own. */
  group?: number;
  /** Bound driver; default 'vfio-pci'. Another name is a driver the fake knows by name only (drivers_probe binds it again). */
  driver?: string | null;
  /**
   * A PF (its model has an SR-IOV capability): the VF driver (e.g. 'igbvf') that probes its new VFs while
   * sriov_drivers_autoprobe is on and the PF is not on vfio-pci; default none (VFs stay unbound).
   */
  vfDriver?: string | null;
  /** A PF on a driver other than vfio-pci: that driver implements sriov_configure (default true; false: sriov_numvfs is ENOENT). */
  sriovConfigure?: boolean;
}
