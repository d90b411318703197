// read/write/mmap on a device fd (drivers/vfio/pci/vfio_pci_rdwr.c), after the
// shim's argument checks. Every BAR access is trapped and reaches the model; mmap
// is refused, so Region falls back to pread/pwrite. The file arrives resolved from its
// handle (kernel.ts).
import { errnoError } from './errno.js';
import { argBytes, argU64 } from '../args.js';
import type { FdEntry } from './objects.js';
import { REGION_SHIFT } from './vfio-pci.js';
import { VFIO_PCI_CONFIG_REGION_INDEX } from '../../uapi/vfio-pci.js';

const PAGE = 4096;

export function regionIo(e: FdEntry, bytes: Uint8Array, offset: number, write: boolean): number {
  const syscall = write ? 'pwrite' : 'pread';
  argBytes(bytes, syscall, write ? 'source' : 'target');
  const off64 = argU64(offset, syscall, 'offset');
  if (off64 > BigInt(Number.MAX_SAFE_INTEGER)) throw errnoError('EINVAL', syscall);
  const off = Number(off64);
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
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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

export function mmapRegion(e: FdEntry, offset: number, length: number, prot: number): never {
  const off = argU64(offset, 'mmap', 'offset');
  const len = argU64(length, 'mmap', 'length');
  const p = argU64(prot, 'mmap', 'prot');
  if (len === 0n) throw new RangeError('mmap: length must be greater than 0');
  if (off % BigInt(PAGE)) throw new RangeError('mmap: offset must be a multiple of the page size');
  if (p !== 3n) throw new RangeError('mmap: prot must be PROT_READ|PROT_WRITE (3): read-only memory cannot be an ArrayBuffer; use pread');
  if (e.kind !== 'device') throw errnoError('ENODEV', 'mmap');
  if (e.cdev && !e.cdev.bound) throw errnoError('EINVAL', 'mmap', 'the device cdev is not bound to an iommufd yet');
  throw errnoError('ENODEV', 'mmap', 'the fake kernel traps BAR accesses; they go through pread/pwrite');
}
