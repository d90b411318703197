// Files as handles: what every entry point takes instead of an fd number (handle.cc says why).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "shim.h"

namespace vfio {

struct Mem;

// One IOMMU mapping made through a container handle (ioas == 0) or an iommufd handle (an IOAS;
// iommufd object ids start at 1, so 0 never names one).
struct DmaRecord {
  uint32_t ioas;
  uint64_t iova;
  uint64_t size;
  Mem* mem;
};

// The native state of a handle. Held by shared_ptr: a Poller co-owns its eventfd's File.
// Only the thread of the environment that made it touches it (handles cannot cross threads).
struct File {
  int fd = -1;  // -1 once closed
  FdKind kind = FdKind::kOther;
  bool noiommu = false;  // a no-IOMMU group, or a device of one (counted in memory.cc)
  bool polled = false;   // a live Poller owns the fd
  uint64_t memfd_size = 0;
  std::vector<DmaRecord> records;  // mappings made through this file (dmamap.cc)
};

// The File behind argument i, open. Not a handle of this addon: TypeError. Closed: EBADF,
// reported as from `syscall`.
File* ArgFile(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* syscall);
std::shared_ptr<File> ArgFileShared(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* syscall);
// Wraps a File that owns an open fd as a new handle. On failure (a JS exception) closes the fd.
Napi::Object NewHandle(Napi::Env env, std::shared_ptr<File> file);
// Unmaps the file's DMA records, then close(2): what close() and the finalizer do. Returns 0
// or close's errno; never throws, never calls JS. The File reads as closed afterwards.
int CloseFile(File& f);
// Marks f closed without closing its fd (a Poller closes it later); drops its no-IOMMU count.
void MarkClosed(File& f);
// Counts f as a no-IOMMU device (see memory.cc, "Parked memory").
void SetNoIommuDevice(File& f);

// dmamap.cc: unmaps every record of f exactly as mapped, forgetting those the kernel no longer
// holds; a record that cannot be unmapped keeps its memory for ever.
void UnmapRecords(File& f);
// Forgets the records of `ioas` wholly inside [iova, iova+size) (all of them when `all`),
// releasing memory whose buffer was collected while it was still mapped.
void ForgetRecords(File& f, uint32_t ioas, bool all, uint64_t iova, uint64_t size);

}  // namespace vfio
