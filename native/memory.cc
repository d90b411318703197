// Memory that JS sees as ArrayBuffers: device regions (mmap of a device fd) and
// DMA memory (anonymous, pinned by the IOMMU driver while mapped).
//
// Lifetime rules (see architecture.md, "Memory lifetime is explicit and safe"):
//  - Each mapping is an external ArrayBuffer. An explicit unmap/free detaches the
//    buffer first (every view then reads as empty), then munmaps.
//  - The buffer's finalizer releases only what was not released explicitly.
//  - DMA memory remembers each IOMMU mapping made through dmaMap. It cannot be freed
//    while one remains, and a finalizer that finds one leaks the memory instead of
//    handing pages the device may still write to back to the allocator.
// No process address ever reaches JS: dmaMap computes vaddr here.
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "shim.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

namespace vfio {
namespace {

constexpr size_t kHugePage = 2u << 20;

struct Registry;

struct Mem {
  uint8_t* addr;
  size_t length;
  bool dma;
  size_t page_size;
  bool released = false;   // munmapped (explicitly or by the finalizer)
  bool finalized = false;  // its ArrayBuffer is gone; only IOMMU records keep it
  size_t iommu_maps = 0;  // live dmaMap records naming this memory
  std::shared_ptr<Registry> registry{};
};

struct DmaRecord {
  int fd;
  uint64_t iova;
  uint64_t size;
  Mem* mem;
};

struct Registry {
  std::unordered_map<uint8_t*, Mem*> live;  // by address, for buffers not yet released
  std::vector<DmaRecord> records;
};

std::shared_ptr<Registry>& RegistryOf(Napi::Env env) {
  return *env.GetInstanceData<std::shared_ptr<Registry>>();
}

void Release(Mem* m) {
  if (m->released) return;
  ::munmap(m->addr, m->length);
  m->released = true;
  m->registry->live.erase(m->addr);
}

// Runs when the ArrayBuffer is collected (or at environment teardown).
void Finalize(napi_env, void*, void* hint) {
  Mem* m = static_cast<Mem*>(hint);
  m->finalized = true;
  if (m->iommu_maps > 0) return;  // still IOMMU-mapped: keep it until dmaUnmap releases it
  Release(m);
  delete m;
}

Napi::ArrayBuffer Wrap(Napi::Env env, Mem* m) {
  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(env, m->addr, m->length, Finalize, m, &ab);
  if (st != napi_ok) {
    ::munmap(m->addr, m->length);
    delete m;
    if (st == napi_no_external_buffers_allowed)
      ThrowType(env,
                "this runtime refuses external ArrayBuffers (V8 sandbox, e.g. Electron): device memory "
                "cannot be exposed as an ArrayBuffer here");
    ThrowType(env, "could not create an external ArrayBuffer");
  }
  m->registry->live.emplace(m->addr, m);
  return Napi::ArrayBuffer(env, ab);
}

// Finds the live Mem behind an ArrayBuffer made by this module.
Mem* Lookup(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsArrayBuffer())
    ThrowType(env, std::string(fn) + ": buffer must be an ArrayBuffer returned by mmap or dmaAlloc");
  Napi::ArrayBuffer ab = info[i].As<Napi::ArrayBuffer>();
  auto* data = static_cast<uint8_t*>(ab.Data());
  auto& live = RegistryOf(env)->live;
  auto it = data ? live.find(data) : live.end();
  if (it == live.end() || it->second->length != ab.ByteLength())
    ThrowType(env, std::string(fn) + ": buffer was not returned by mmap/dmaAlloc, or was already released");
  return it->second;
}

void DetachAndRelease(Napi::Env env, const Napi::CallbackInfo& info, size_t i, Mem* m, const char* fn) {
  if (napi_detach_arraybuffer(env, info[i]) != napi_ok)
    ThrowType(env, std::string(fn) + ": the buffer could not be detached; nothing was unmapped");
  Release(m);
}

Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "mmap");
  uint64_t offset = ArgU64(info, 1, "mmap", "offset");
  uint64_t length = ArgU64(info, 2, "mmap", "length");
  uint64_t prot = ArgU64(info, 3, "mmap", "prot");
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (length == 0) ThrowRange(env, "mmap: length must be greater than 0");
  if (offset % page) ThrowRange(env, "mmap: offset must be a multiple of the page size");
  if (prot == 0 || (prot & ~static_cast<uint64_t>(PROT_READ | PROT_WRITE)))
    ThrowRange(env, "mmap: prot must be PROT_READ, PROT_WRITE or both");
  void* p = ::mmap(nullptr, length, static_cast<int>(prot), MAP_SHARED, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) ThrowErrno(env, errno, "mmap");
  Mem* m = new Mem{static_cast<uint8_t*>(p), static_cast<size_t>(length), false, page};
  m->registry = RegistryOf(env);
  return Wrap(env, m);
}

Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Mem* m = Lookup(info, 0, "munmap");
  if (m->dma) ThrowType(info.Env(), "munmap: this is DMA memory; release it with dmaFree");
  DetachAndRelease(info.Env(), info, 0, m, "munmap");
  return info.Env().Undefined();
}

// dmaAlloc(length, huge): huge 0 = 4 KiB pages, 1 = 2 MiB pages if the system has them, 2 = 2 MiB or fail.
Napi::Value DmaAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t length = ArgU64(info, 0, "dmaAlloc", "length");
  uint64_t huge = info.Length() > 1 ? ArgU64(info, 1, "dmaAlloc", "huge") : 0;
  if (length == 0) ThrowRange(env, "dmaAlloc: length must be greater than 0");
  if (huge > 2) ThrowRange(env, "dmaAlloc: huge must be 0, 1 or 2");
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p = MAP_FAILED;
  size_t size = 0;
  int err = 0;
  if (huge) {
    page = kHugePage;
    size = (length + page - 1) / page * page;
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
    err = errno;
    if (p == MAP_FAILED && huge == 2) ThrowErrno(env, err, "mmap", "2 MiB hugepages (see /proc/sys/vm/nr_hugepages)");
  }
  if (p == MAP_FAILED) {
    page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size = (length + page - 1) / page * page;
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) ThrowErrno(env, errno, "mmap", "DMA memory");
  }
  // A fork() must not turn pinned pages copy-on-write under the device.
  ::madvise(p, size, MADV_DONTFORK);
  Mem* m = new Mem{static_cast<uint8_t*>(p), size, true, page};
  m->registry = RegistryOf(env);
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", Wrap(env, m));
  out.Set("pageSize", Napi::Number::New(env, static_cast<double>(page)));
  return out;
}

Napi::Value DmaFree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mem* m = Lookup(info, 0, "dmaFree");
  if (!m->dma) ThrowType(env, "dmaFree: this is a device mapping; release it with munmap");
  if (m->iommu_maps > 0)
    ThrowErrno(env, EBUSY, "dmaFree",
               std::to_string(m->iommu_maps) + " IOMMU mapping(s) still name this memory; unmap them first");
  DetachAndRelease(env, info, 0, m, "dmaFree");
  return env.Undefined();
}

// dmaMap(containerFd, buffer, offset, size, iova, flags): VFIO_IOMMU_MAP_DMA with vaddr filled here.
Napi::Value DmaMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "dmaMap");
  Mem* m = Lookup(info, 1, "dmaMap");
  uint64_t offset = ArgU64(info, 2, "dmaMap", "offset");
  uint64_t size = ArgU64(info, 3, "dmaMap", "size");
  uint64_t iova = ArgU64(info, 4, "dmaMap", "iova");
  uint64_t flags = ArgU64(info, 5, "dmaMap", "flags");
  if (!m->dma) ThrowType(env, "dmaMap: only memory from dmaAlloc can be mapped for DMA");
  if (offset > m->length || size > m->length - offset)
    ThrowRange(env, "dmaMap: offset " + std::to_string(offset) + " + size " + std::to_string(size) +
                        " is outside the " + std::to_string(m->length) + "-byte buffer");
  // Only the protection bits: VADDR updates would re-point a mapping at other memory.
  if (flags & ~static_cast<uint64_t>(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))
    ThrowRange(env, "dmaMap: flags may only hold READ (1) and WRITE (2)");
  RequireFdKind(env, fd, FdKind::kContainer, "VFIO_IOMMU_MAP_DMA");
  vfio_iommu_type1_dma_map map{};
  map.argsz = sizeof map;
  map.flags = static_cast<uint32_t>(flags);
  map.vaddr = reinterpret_cast<uintptr_t>(m->addr + offset);
  map.iova = iova;
  map.size = size;
  int rc;
  do rc = ::ioctl(fd, VFIO_IOMMU_MAP_DMA, &map); while (rc < 0 && errno == EINTR);
  if (rc < 0) ThrowErrno(env, errno, "ioctl", "VFIO_IOMMU_MAP_DMA");
  m->registry->records.push_back(DmaRecord{fd, iova, size, m});
  m->iommu_maps++;
  return env.Undefined();
}

// dmaUnmap(containerFd, iova, size, flags) -> bytes unmapped (BigInt). flags may hold UNMAP_ALL only.
Napi::Value DmaUnmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "dmaUnmap");
  uint64_t iova = ArgU64(info, 1, "dmaUnmap", "iova");
  uint64_t size = ArgU64(info, 2, "dmaUnmap", "size");
  uint64_t flags = info.Length() > 3 ? ArgU64(info, 3, "dmaUnmap", "flags") : 0;
#ifndef VFIO_DMA_UNMAP_FLAG_ALL
#define VFIO_DMA_UNMAP_FLAG_ALL (1 << 1)
#endif
  // Dirty-bitmap and VADDR unmaps carry user pointers or leave stale vaddrs: not offered.
  if (flags & ~static_cast<uint64_t>(VFIO_DMA_UNMAP_FLAG_ALL))
    ThrowRange(env, "dmaUnmap: flags may only hold UNMAP_ALL (2)");
  RequireFdKind(env, fd, FdKind::kContainer, "VFIO_IOMMU_UNMAP_DMA");
  vfio_iommu_type1_dma_unmap unmap{};
  unmap.argsz = sizeof unmap;
  unmap.flags = static_cast<uint32_t>(flags);
  unmap.iova = iova;
  unmap.size = size;
  int rc;
  do rc = ::ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap); while (rc < 0 && errno == EINTR);
  if (rc < 0) ThrowErrno(env, errno, "ioctl", "VFIO_IOMMU_UNMAP_DMA");
  // Forget the records the kernel just released: all of this fd's, or those wholly inside
  // the range it reports. A record only partly covered stays: the conservative side.
  auto& recs = RegistryOf(env)->records;
  const bool all = flags & VFIO_DMA_UNMAP_FLAG_ALL;
  const uint64_t end = unmap.iova + unmap.size;
  for (size_t k = 0; k < recs.size();) {
    DmaRecord& r = recs[k];
    bool gone = r.fd == fd && (all || (r.iova >= unmap.iova && r.iova + r.size <= end && unmap.size > 0));
    if (gone) {
      Mem* m = r.mem;
      if (--m->iommu_maps == 0 && m->finalized) {  // its buffer was collected while mapped
        Release(m);
        delete m;
      }
      recs[k] = recs.back();
      recs.pop_back();
    } else {
      k++;
    }
  }
  return Napi::BigInt::New(env, static_cast<uint64_t>(unmap.size));
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new std::shared_ptr<Registry>(std::make_shared<Registry>()));
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("dmaAlloc", Napi::Function::New(env, DmaAlloc, "dmaAlloc"));
  exports.Set("dmaFree", Napi::Function::New(env, DmaFree, "dmaFree"));
  exports.Set("dmaMap", Napi::Function::New(env, DmaMap, "dmaMap"));
  exports.Set("dmaUnmap", Napi::Function::New(env, DmaUnmap, "dmaUnmap"));
}

}  // namespace vfio
