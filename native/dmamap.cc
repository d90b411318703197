// IOMMU mappings of DMA memory: the requests whose structs carry a process address,
// so JS may not build them. VFIO_IOMMU_MAP_DMA (a type1 container) and IOMMU_IOAS_MAP
// (an iommufd IOAS) take a buffer from dmaAlloc and an offset; the address is computed
// here. Each mapping is recorded on the handle it was made through (handle.h) and counted
// on its memory (memory.h), so the memory cannot be freed while the IOMMU may still reach
// it, and closing the handle can unmap exactly what was mapped. An unmap that would cut a
// recorded mapping is refused before the kernel sees it, so the records and the kernel never
// disagree about what is mapped. IOMMU_IOAS_IOVA_RANGES is here too: its output array is a
// user pointer.
#include <linux/vfio.h>
#include <sys/ioctl.h>

#include <cstring>
#include <string>
#include <vector>

#include "handle.h"
#include "memory.h"

#ifndef VFIO_DMA_UNMAP_FLAG_ALL
#define VFIO_DMA_UNMAP_FLAG_ALL (1 << 1)
#endif

namespace vfio {

// iommufd's uAPI (linux/iommufd.h, 6.2+) is not in every libc's headers: the layouts
// the shim needs are defined here, with their sizes checked.
namespace iommufd {
constexpr unsigned long kIoasIovaRanges = _IO(';', 0x84);
constexpr unsigned long kIoasMap = _IO(';', 0x85);
constexpr unsigned long kIoasUnmap = _IO(';', 0x86);
constexpr uint32_t kMapFixedIova = 1 << 0;
constexpr uint32_t kMapWriteable = 1 << 1;
constexpr uint32_t kMapReadable = 1 << 2;

struct IovaRange {
  uint64_t start;
  uint64_t last;
};
struct IoasIovaRanges {
  uint32_t size;
  uint32_t ioas_id;
  uint32_t num_iovas;
  uint32_t reserved;
  uint64_t allowed_iovas;
  uint64_t out_iova_alignment;
};
struct IoasMap {
  uint32_t size;
  uint32_t flags;
  uint32_t ioas_id;
  uint32_t reserved;
  uint64_t user_va;
  uint64_t length;
  uint64_t iova;
};
struct IoasUnmap {
  uint32_t size;
  uint32_t ioas_id;
  uint64_t iova;
  uint64_t length;
};
static_assert(sizeof(IoasIovaRanges) == 32 && sizeof(IoasMap) == 40 && sizeof(IoasUnmap) == 24, "iommufd layouts");
}  // namespace iommufd

namespace {

// The last byte of [iova, iova+size), saturating: unmap-all asks for 2^64 - 1 bytes.
uint64_t Last(uint64_t iova, uint64_t size) { return size - 1 > UINT64_MAX - iova ? UINT64_MAX : iova + (size - 1); }

void Forget(File& f, size_t k) {
  Mem* m = f.records[k].mem;
  if (--m->iommu_maps == 0 && m->finalized) {  // its buffer was collected while mapped
    Release(m);
    delete m;
  }
  f.records[k] = f.records.back();
  f.records.pop_back();
}

// A record of `ioas` that [iova, iova+size) overlaps without containing: unmapping the range
// would cut it. The kernel would refuse (type1) or unmap the areas before it and then fail
// (iommufd), so the shim refuses first. Null if none.
const DmaRecord* Cut(const File& f, uint32_t ioas, uint64_t iova, uint64_t size) {
  if (size == 0) return nullptr;
  const uint64_t last = Last(iova, size);
  for (const DmaRecord& r : f.records) {
    const uint64_t rlast = r.iova + (r.size - 1);
    if (r.ioas == ioas && r.iova <= last && rlast >= iova && (r.iova < iova || rlast > last)) return &r;
  }
  return nullptr;
}

void RefuseCut(Napi::Env env, const File& f, uint32_t ioas, uint64_t iova, uint64_t size, int err, const char* what) {
  const DmaRecord* r = Cut(f, ioas, iova, size);
  if (r == nullptr) return;
  char text[160];
  std::snprintf(text, sizeof text, "%s: the range cuts the mapping at 0x%llx (0x%llx bytes); unmap whole mappings",
                what, static_cast<unsigned long long>(r->iova), static_cast<unsigned long long>(r->size));
  ThrowErrno(env, err, "ioctl", text);
}

// A container whose last group left has no IOMMU driver (GET_INFO is EINVAL), as the kernel
// makes it while unbinding the last device (vfio_group_detach_container): the driver's release
// dropped every mapping.
bool ContainerEmptied(int fd) {
  vfio_iommu_type1_info probe{};
  probe.argsz = sizeof probe;
  return IoctlRetry(fd, VFIO_IOMMU_GET_INFO, &probe) < 0 && errno == EINVAL;
}

// The IOAS no longer exists (destroyed, by this process or another holding the iommufd): its
// mappings went with it.
bool IoasGone(int fd, uint32_t ioas) {
  iommufd::IoasIovaRanges q{};
  q.size = sizeof q;
  q.ioas_id = ioas;
  return IoctlRetry(fd, iommufd::kIoasIovaRanges, &q) < 0 && errno == ENOENT;
}

}  // namespace

void ForgetRecords(File& f, uint32_t ioas, bool all, uint64_t iova, uint64_t size) {
  const uint64_t last = size == 0 ? 0 : Last(iova, size);
  for (size_t k = 0; k < f.records.size();) {
    const DmaRecord& r = f.records[k];
    // A record only partly covered stays: the conservative side.
    if (r.ioas == ioas && (all || (size > 0 && r.iova >= iova && r.iova + (r.size - 1) <= last))) Forget(f, k);
    else k++;
  }
}

void UnmapRecords(File& f) {
  for (size_t k = 0; k < f.records.size();) {
    const DmaRecord r = f.records[k];
    int rc;
    if (f.kind == FdKind::kContainer) {
      vfio_iommu_type1_dma_unmap unmap{};
      unmap.argsz = sizeof unmap;
      unmap.iova = r.iova;
      unmap.size = r.size;
      rc = IoctlRetry(f.fd, VFIO_IOMMU_UNMAP_DMA, &unmap);
      if (rc < 0 && errno == EINVAL && ContainerEmptied(f.fd)) {
        ForgetRecords(f, 0, true, 0, 0);
        return;
      }
    } else {
      iommufd::IoasUnmap unmap{};
      unmap.size = sizeof unmap;
      unmap.ioas_id = r.ioas;
      unmap.iova = r.iova;
      unmap.length = r.size;
      rc = IoctlRetry(f.fd, iommufd::kIoasUnmap, &unmap);
      if (rc < 0 && errno == ENOENT && IoasGone(f.fd, r.ioas)) {
        ForgetRecords(f, r.ioas, true, 0, 0);
        k = 0;  // the vector was reordered
        continue;
      }
    }
    // A record the kernel would not unmap stays, and with it its memory, for ever: the
    // mapping may still exist, so the pages must never go back to the kernel.
    if (rc == 0) Forget(f, k);
    else k++;
  }
}


namespace {

uint32_t ArgIoas(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  uint64_t id = ArgU64(info, i, fn, "ioas");
  if (id == 0 || id > 0xffffffffu) ThrowRange(info.Env(), std::string(fn) + ": ioas must be an IOAS id in [1, 2^32)");
  return static_cast<uint32_t>(id);
}

// The part [offset, offset+size) of DMA memory argument `i`, checked.
uint8_t* DmaSpan(const Napi::CallbackInfo& info, size_t i, const char* fn, uint64_t offset, uint64_t size, Mem** out) {
  Napi::Env env = info.Env();
  Mem* m = Lookup(info, i, fn);
  if (!m->dma) ThrowType(env, std::string(fn) + ": only memory from dmaAlloc can be mapped for DMA");
  if (offset > m->length || size > m->length - offset)
    ThrowRange(env, std::string(fn) + ": offset " + std::to_string(offset) + " + size " + std::to_string(size) +
                        " is outside the " + std::to_string(m->length) + "-byte buffer");
  *out = m;
  return m->addr + offset;
}

// Called after the kernel mapped: a record that cannot be made would be a mapping nobody knows
// of, so room for it is made first (Reserve), and the push cannot throw.
void Reserve(File& f) { f.records.reserve(f.records.size() + 1); }
void Record(File& f, uint32_t ioas, uint64_t iova, uint64_t size, Mem* m) {
  f.records.push_back(DmaRecord{ioas, iova, size, m});
  m->iommu_maps++;
}

// As the kernel would answer a request foreign to the file.
void RequireKind(Napi::Env env, const File& f, FdKind want, const char* request) {
  if (f.kind != want)
    ThrowErrno(env, ENOTTY, "ioctl", std::string(request) + ": the handle is " + FdKindName(f.kind) + ", not " + FdKindName(want));
}

// dmaMap(container, buffer, offset, size, iova, flags): VFIO_IOMMU_MAP_DMA with vaddr filled here.
Napi::Value DmaMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* f = ArgFile(info, 0, "dmaMap", "ioctl");
  uint64_t offset = ArgU64(info, 2, "dmaMap", "offset");
  uint64_t size = ArgU64(info, 3, "dmaMap", "size");
  uint64_t iova = ArgU64(info, 4, "dmaMap", "iova");
  uint64_t flags = ArgU64(info, 5, "dmaMap", "flags");
  Mem* m;
  uint8_t* va = DmaSpan(info, 1, "dmaMap", offset, size, &m);
  // Only the protection bits: VADDR updates would re-point a mapping at other memory.
  if (flags & ~static_cast<uint64_t>(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))
    ThrowRange(env, "dmaMap: flags may only hold READ (1) and WRITE (2)");
  RequireKind(env, *f, FdKind::kContainer, "VFIO_IOMMU_MAP_DMA");
  Reserve(*f);
  vfio_iommu_type1_dma_map map{};
  map.argsz = sizeof map;
  map.flags = static_cast<uint32_t>(flags);
  map.vaddr = reinterpret_cast<uintptr_t>(va);
  map.iova = iova;
  map.size = size;
  int rc = IoctlRetry(f->fd, VFIO_IOMMU_MAP_DMA, &map);
  if (rc < 0) ThrowErrno(env, errno, "ioctl", "VFIO_IOMMU_MAP_DMA");
  Record(*f, 0, iova, size, m);
  return env.Undefined();
}

// dmaUnmap(container, iova, size, flags) -> bytes unmapped (BigInt). flags may hold UNMAP_ALL only.
Napi::Value DmaUnmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* f = ArgFile(info, 0, "dmaUnmap", "ioctl");
  uint64_t iova = ArgU64(info, 1, "dmaUnmap", "iova");
  uint64_t size = ArgU64(info, 2, "dmaUnmap", "size");
  uint64_t flags = info.Length() > 3 ? ArgU64(info, 3, "dmaUnmap", "flags") : 0;
  // Dirty-bitmap and VADDR unmaps carry user pointers or leave stale vaddrs: not offered.
  if (flags & ~static_cast<uint64_t>(VFIO_DMA_UNMAP_FLAG_ALL))
    ThrowRange(env, "dmaUnmap: flags may only hold UNMAP_ALL (2)");
  RequireKind(env, *f, FdKind::kContainer, "VFIO_IOMMU_UNMAP_DMA");
  const bool all = (flags & VFIO_DMA_UNMAP_FLAG_ALL) != 0;
  if (!all) RefuseCut(env, *f, 0, iova, size, EINVAL, "VFIO_IOMMU_UNMAP_DMA");
  vfio_iommu_type1_dma_unmap unmap{};
  unmap.argsz = sizeof unmap;
  unmap.flags = static_cast<uint32_t>(flags);
  unmap.iova = iova;
  unmap.size = size;
  int rc = IoctlRetry(f->fd, VFIO_IOMMU_UNMAP_DMA, &unmap);
  if (rc < 0) {
    const int err = errno;
    // EINVAL from a container without an IOMMU driver: every mapping is gone.
    if (err == EINVAL && ContainerEmptied(f->fd)) ForgetRecords(*f, 0, true, 0, 0);
    ThrowErrno(env, err, "ioctl", "VFIO_IOMMU_UNMAP_DMA");
  }
  // What was asked, not the size the kernel wrote back (smaller when the range has holes): no
  // record is cut (refused above), so every record in the range is gone.
  ForgetRecords(*f, 0, all, iova, size);
  return Napi::BigInt::New(env, static_cast<uint64_t>(unmap.size));
}

// ioasMap(iommufd, ioas, buffer, offset, size, iova, flags): IOMMU_IOAS_MAP at a fixed IOVA
// (the object model allocates IOVAs itself), user_va filled here. flags: READABLE | WRITEABLE.
Napi::Value IoasMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* f = ArgFile(info, 0, "ioasMap", "ioctl");
  uint32_t ioas = ArgIoas(info, 1, "ioasMap");
  uint64_t offset = ArgU64(info, 3, "ioasMap", "offset");
  uint64_t size = ArgU64(info, 4, "ioasMap", "size");
  uint64_t iova = ArgU64(info, 5, "ioasMap", "iova");
  uint64_t flags = ArgU64(info, 6, "ioasMap", "flags");
  Mem* m;
  uint8_t* va = DmaSpan(info, 2, "ioasMap", offset, size, &m);
  if (flags & ~static_cast<uint64_t>(iommufd::kMapReadable | iommufd::kMapWriteable))
    ThrowRange(env, "ioasMap: flags may only hold WRITEABLE (2) and READABLE (4)");
  RequireKind(env, *f, FdKind::kIommufd, "IOMMU_IOAS_MAP");
  Reserve(*f);
  iommufd::IoasMap map{};
  map.size = sizeof map;
  map.flags = static_cast<uint32_t>(flags) | iommufd::kMapFixedIova;
  map.ioas_id = ioas;
  map.user_va = reinterpret_cast<uintptr_t>(va);
  map.length = size;
  map.iova = iova;
  int rc = IoctlRetry(f->fd, iommufd::kIoasMap, &map);
  if (rc < 0) ThrowErrno(env, errno, "ioctl", "IOMMU_IOAS_MAP");
  Record(*f, ioas, iova, size, m);
  return env.Undefined();
}

// ioasUnmap(iommufd, ioas, iova, length) -> bytes unmapped. iova 0 + length 2^64-1 unmaps all.
Napi::Value IoasUnmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* f = ArgFile(info, 0, "ioasUnmap", "ioctl");
  uint32_t ioas = ArgIoas(info, 1, "ioasUnmap");
  uint64_t iova = ArgU64(info, 2, "ioasUnmap", "iova");
  uint64_t length = ArgU64(info, 3, "ioasUnmap", "length");
  RequireKind(env, *f, FdKind::kIommufd, "IOMMU_IOAS_UNMAP");
  const bool all = iova == 0 && length == UINT64_MAX;
  if (!all) RefuseCut(env, *f, ioas, iova, length, ENOENT, "IOMMU_IOAS_UNMAP");
  iommufd::IoasUnmap unmap{};
  unmap.size = sizeof unmap;
  unmap.ioas_id = ioas;
  unmap.iova = iova;
  unmap.length = length;
  int rc = IoctlRetry(f->fd, iommufd::kIoasUnmap, &unmap);
  if (rc < 0) {
    const int err = errno;
    if (err == ENOENT && IoasGone(f->fd, ioas)) ForgetRecords(*f, ioas, true, 0, 0);
    ThrowErrno(env, err, "ioctl", "IOMMU_IOAS_UNMAP");
  }
  // Success means every mapping inside the asked range is gone (none is cut: refused above).
  ForgetRecords(*f, ioas, all, iova, length);
  return Napi::BigInt::New(env, static_cast<uint64_t>(unmap.length));
}

// ioasIovaRanges(iommufd, ioas) -> { ranges: BigUint64Array [start, last, ...], alignment: BigInt }
Napi::Value IoasIovaRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* f = ArgFile(info, 0, "ioasIovaRanges", "ioctl");
  uint32_t ioas = ArgIoas(info, 1, "ioasIovaRanges");
  RequireKind(env, *f, FdKind::kIommufd, "IOMMU_IOAS_IOVA_RANGES");
  const int fd = f->fd;
  std::vector<iommufd::IovaRange> ranges(8);
  iommufd::IoasIovaRanges q{};
  for (int attempt = 0;; attempt++) {
    q = {};
    q.size = sizeof q;
    q.ioas_id = ioas;
    q.num_iovas = static_cast<uint32_t>(ranges.size());
    q.allowed_iovas = reinterpret_cast<uintptr_t>(ranges.data());
    if (IoctlRetry(fd, iommufd::kIoasIovaRanges, &q) == 0) break;
    // EMSGSIZE: the array was too small and num_iovas now says how large it must be.
    if (errno != EMSGSIZE || attempt > 3 || q.num_iovas > 1u << 16)
      ThrowErrno(env, errno, "ioctl", "IOMMU_IOAS_IOVA_RANGES");
    ranges.resize(q.num_iovas);
  }
  const size_t n = std::min<size_t>(q.num_iovas, ranges.size());
  uint64_t* out;
  Napi::Value arr = NewBigUint64Array(env, n * 2, &out, "ioasIovaRanges");
  for (size_t k = 0; k < n; k++) {
    out[2 * k] = ranges[k].start;
    out[2 * k + 1] = ranges[k].last;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("ranges", arr);
  result.Set("alignment", Napi::BigInt::New(env, static_cast<uint64_t>(q.out_iova_alignment)));
  return result;
}

}  // namespace

void InitDmaMap(Napi::Env env, Napi::Object exports) {
  exports.Set("dmaMap", Napi::Function::New(env, DmaMap, "dmaMap"));
  exports.Set("dmaUnmap", Napi::Function::New(env, DmaUnmap, "dmaUnmap"));
  exports.Set("ioasMap", Napi::Function::New(env, IoasMap, "ioasMap"));
  exports.Set("ioasUnmap", Napi::Function::New(env, IoasUnmap, "ioasUnmap"));
  exports.Set("ioasIovaRanges", Napi::Function::New(env, IoasIovaRanges, "ioasIovaRanges"));
}

}  // namespace vfio
