// The registry of memory the shim has handed to JS as ArrayBuffers, shared by
// memory.cc (mapping, allocation, release) and dmamap.cc (IOMMU mappings).
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace vfio {

struct Registry;

struct Mem {
  uint8_t* addr;
  size_t length;
  bool dma;
  size_t page_size;
  bool released = false;   // unmapped, into the quarantine (explicitly or by the finalizer)
  bool finalized = false;  // its ArrayBuffer is gone; only IOMMU records keep it
  bool wrapping = false;   // inside Wrap: a finalizer run now must leave m to Wrap
  size_t iommu_maps = 0;   // live dmaMap/ioasMap records naming this memory
  std::shared_ptr<Registry> registry{};
};

// One IOMMU mapping made through the shim: a container's (ioas == 0) or an iommufd IOAS's.
// iommufd object ids start at 1, so 0 never names an IOAS.
struct DmaRecord {
  int fd;
  uint32_t ioas;
  uint64_t iova;
  uint64_t size;
  Mem* mem;
};

struct Registry {
  std::unordered_map<uint8_t*, Mem*> live;  // by address, for buffers not yet released
  std::vector<DmaRecord> records;
};

std::shared_ptr<Registry>& RegistryOf(Napi::Env env);
// The live Mem behind argument i, which must be an ArrayBuffer made by this module.
Mem* Lookup(const Napi::CallbackInfo& info, size_t i, const char* fn);
// Unmaps the memory, leaving a placeholder over the range for a while (memory.cc,
// "The quarantine"); a second call does nothing.
void Release(Mem* m);
// Forgets the records of (fd, ioas) wholly inside [iova, iova+size) (all of them when `all`),
// releasing memory whose buffer was collected while it was still mapped.
void ForgetRecords(Napi::Env env, int fd, uint32_t ioas, bool all, uint64_t iova, uint64_t size);

}  // namespace vfio
