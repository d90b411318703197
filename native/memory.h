// The registry of memory the shim has handed to JS as ArrayBuffers, shared by
// memory.cc (mapping, allocation, release) and dmamap.cc (IOMMU mappings, which are
// recorded on the handle they were made through: handle.h).
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

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
  bool exposed = false;    // dmaPhysical handed its physical addresses to JS
  size_t iommu_maps = 0;   // live DMA records naming this memory, across every handle
  std::shared_ptr<Registry> registry{};
};

struct Registry {
  std::unordered_map<uint8_t*, Mem*> live;  // by address, for buffers not yet released
};

std::shared_ptr<Registry>& RegistryOf(Napi::Env env);
// The live Mem behind argument i, which must be an ArrayBuffer made by this module.
Mem* Lookup(const Napi::CallbackInfo& info, size_t i, const char* fn);
// Unmaps the memory, leaving a placeholder over the range for a while (memory.cc,
// "The quarantine"), or parks it ("Parked memory"); a second call does nothing.
void Release(Mem* m);
// A no-IOMMU device handle was made / closed (process-wide count; see "Parked memory").
void NoIommuDeviceOpened();
void NoIommuDeviceClosed();

}  // namespace vfio
