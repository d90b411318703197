// Memory that JS sees as ArrayBuffers: device regions (mmap of a device fd) and
// DMA memory (anonymous, pinned by the IOMMU driver while mapped).
//
// Lifetime rules (README.md, "Safety model"):
//  - Each mapping is an external ArrayBuffer. An explicit unmap/free detaches the
//    buffer first (every view then reads as empty), then releases the range into the
//    quarantine below instead of munmapping it.
//  - The buffer's finalizer releases only what was not released explicitly.
//  - DMA memory counts the IOMMU mappings made through dmaMap/ioasMap (recorded on the
//    handle they were made through, handle.h). It cannot be freed while one remains, and a
//    finalizer that finds one leaks the memory instead of handing pages the device may
//    still write to back to the allocator.
//  - Memory whose physical addresses went to JS (dmaPhysical) is parked, not released,
//    while a no-IOMMU device is open ("Parked memory" below).
// No process address ever reaches JS: dmamap.cc computes vaddr/user_va itself.
#include <sys/mman.h>
#include <unistd.h>

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/syscall.h>

#include <climits>
#include <ctime>

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "handle.h"
#include "memory.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

namespace vfio {

constexpr size_t kHugePage = 2u << 20;

std::shared_ptr<Registry>& RegistryOf(Napi::Env env) { return DataOf(env).registry; }

// The quarantine. Detaching cannot stop async work that already holds a view's raw pointer:
// an fs.read, crypto.randomFill or zlib call running on a threadpool thread keeps writing
// after the buffer is released, and an addon cannot pin views. munmap would turn that write
// into a SIGSEGV of the whole process, or, once the kernel hands the range to the next
// mmap (the next dmaAlloc, a BAR mapping, V8's heap), into silent corruption of that memory.
// So a released range is not unmapped: one mmap(MAP_FIXED) atomically replaces it (no window
// in which another thread's mmap could take the address) with a placeholder that is private,
// anonymous, writable and MAP_NORESERVE. A late write lands in a throwaway page: no crash,
// nothing corrupted, nothing reaches the device (a BAR's placeholder is ordinary memory), and
// the DMA pages themselves go back to the kernel at once (hugepages included). PROT_NONE
// would also keep the address from being reused, but turns the late write into a SIGSEGV.
// Placeholders cost address space and one VMA each (adjacent ones merge), and RSS only for
// pages a late write touched. They are munmapped lazily, oldest first, on the next release:
// once older than kDelay, or while the quarantine holds more than kBudget bytes or kMaxEntries
// ranges (the newest is always kept). An I/O still in flight after that is back to the old
// hazard; no delay covers a read that blocks forever, hence the rule in the README: do not
// start async I/O on a view you are about to release. One quarantine per process (munmap is
// process-wide), shared by every worker thread's environment, so it has a lock.
namespace {

struct Quarantined {
  void* addr;
  size_t length;
  timespec at;
};

constexpr size_t kBudget = 64u << 20;
constexpr size_t kMaxEntries = 1024;
constexpr time_t kDelaySeconds = 10;

std::mutex quarantine_lock;
std::deque<Quarantined>& Queue() {
  static auto* q = new std::deque<Quarantined>();  // never destroyed: finalizers may run at exit
  return *q;
}
size_t quarantined_bytes = 0;

// Munmaps the oldest entries the limits no longer allow (all of them when `all`). Lock held.
void Evict(bool all) {
  auto& q = Queue();
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  while (!q.empty()) {
    const Quarantined& e = q.front();
    const bool over = q.size() > 1 && (quarantined_bytes > kBudget || q.size() > kMaxEntries);
    const bool old = now.tv_sec - e.at.tv_sec >= kDelaySeconds;
    if (!all && !over && !old) break;
    ::munmap(e.addr, e.length);
    quarantined_bytes -= e.length;
    q.pop_front();
  }
}

void Quarantine(void* addr, size_t length) {
  void* p = ::mmap(addr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                   -1, 0);
  if (p == MAP_FAILED) {
    // ENOMEM (vm.max_map_count, if the replacement splits a VMA): fall back to what was done
    // before the quarantine existed rather than leave the old mapping in place.
    ::munmap(addr, length);
    return;
  }
  Quarantined e{addr, length, {}};
  ::clock_gettime(CLOCK_MONOTONIC, &e.at);
  std::lock_guard<std::mutex> hold(quarantine_lock);
  Queue().push_back(e);
  quarantined_bytes += length;
  Evict(false);
}

// drainQuarantine(): munmaps every placeholder now, for tests and for a driver that knows
// no async I/O is in flight (e.g. before measuring its memory).
Napi::Value DrainQuarantine(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> hold(quarantine_lock);
  Evict(true);
  return info.Env().Undefined();
}

}  // namespace

// Parked memory. In no-IOMMU mode nothing translates a device's DMA: it reaches whatever
// physical pages the driver gave it (dmaPhysical), and nothing in the kernel knows the driver
// did. Pages given back to the kernel while such a device may still hold their addresses would
// be written into someone else's memory. So while any no-IOMMU device handle is open, released
// memory whose addresses went out stays mapped and locked, out of JS's reach (its buffer is
// detached as usual); when the last such handle closes the device can no longer be programmed
// (closing the device fd resets and disables it), and the parked ranges go to the quarantine.
// Process-wide: a device opened on one thread may hold the addresses another handed out.
namespace {

struct Range {
  void* addr;
  size_t length;
};
std::mutex noiommu_lock;
size_t noiommu_devices = 0;
std::vector<Range>& Parked() {
  static auto* parked = new std::vector<Range>();  // never destroyed: finalizers may run at exit
  return *parked;
}

// Parks the range if a no-IOMMU device is open; false otherwise.
bool Park(void* addr, size_t length) {
  std::lock_guard<std::mutex> hold(noiommu_lock);
  if (noiommu_devices == 0) return false;
  try {
    Parked().push_back(Range{addr, length});
  } catch (const std::bad_alloc&) {
    // Not recorded, so never quarantined: the range stays mapped for good, which is safe.
  }
  return true;
}

}  // namespace

void NoIommuDeviceOpened() {
  std::lock_guard<std::mutex> hold(noiommu_lock);
  noiommu_devices++;
}

void NoIommuDeviceClosed() {
  std::vector<Range> out;
  {
    std::lock_guard<std::mutex> hold(noiommu_lock);
    if (--noiommu_devices == 0) out.swap(Parked());
  }
  for (const Range& r : out) Quarantine(r.addr, r.length);
}

void Release(Mem* m) {
  if (m->released) return;
  if (!(m->exposed && Park(m->addr, m->length))) Quarantine(m->addr, m->length);
  m->released = true;
  m->registry->live.erase(m->addr);
}

namespace {

// Runs when the ArrayBuffer is collected (or at environment teardown).
void Finalize(napi_env, void*, void* hint) {
  Mem* m = static_cast<Mem*>(hint);
  m->finalized = true;
  if (m->wrapping) return;
  if (m->iommu_maps > 0) return;  // still IOMMU-mapped: keep it until dmaUnmap releases it
  Release(m);
  delete m;
}

// Hands m to JS. On failure the memory is unmapped here, once. Node may or may not run
// the finalizer after a failed create (it does for a length above the runtime's limit, at
// once or later; not when it refused the call outright), so m is freed here only when
// that cannot happen, and is otherwise left for the finalizer, which then finds it released.
Napi::ArrayBuffer Wrap(Napi::Env env, Mem* m) {
  napi_value ab;
  m->wrapping = true;
  napi_status st = napi_create_external_arraybuffer(env, m->addr, m->length, Finalize, m, &ab);
  m->wrapping = false;
  if (st != napi_ok) {
    const size_t length = m->length;
    // Node may have left its own exception pending ("Cannot create a Buffer larger than ..."):
    // replace it with one that says what happened to the mapping.
    bool pending = false;
    napi_value ignored;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
    Release(m);
    if (m->finalized || st == napi_no_external_buffers_allowed || st == napi_invalid_arg ||
        st == napi_pending_exception)
      delete m;
    if (st == napi_no_external_buffers_allowed)
      ThrowType(env,
                "this runtime refuses external ArrayBuffers (V8 sandbox, e.g. Electron): device memory "
                "cannot be exposed as an ArrayBuffer here");
    ThrowRange(env, "could not create an external ArrayBuffer of " + std::to_string(length) +
                        " bytes (above this runtime's ArrayBuffer limit?); nothing stays mapped");
  }
  m->registry->live.emplace(m->addr, m);
  return Napi::ArrayBuffer(env, ab);
}

}  // namespace

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

namespace {

void DetachAndRelease(Napi::Env env, const Napi::CallbackInfo& info, size_t i, Mem* m, const char* fn) {
  if (napi_detach_arraybuffer(env, info[i]) != napi_ok)
    ThrowType(env, std::string(fn) + ": the buffer could not be detached; nothing was unmapped");
  Release(m);
}

// A mapping JS can touch must never SIGBUS: pages of a file past its end do, and a regular
// file can be truncated under the mapping by anyone. So only two kinds of file are mapped:
//  - a VFIO device: vfio-pci checks the range against the region itself;
//  - a memfd of this addon (memfd()), within its size: it is sealed against shrinking and
//    growing, so the size recorded in its handle holds for its life and no page can vanish
//    under the mapping. The tests use these to stand in for a device.
void RequireMappable(Napi::Env env, const File& f, uint64_t offset, uint64_t length) {
  if (f.kind == FdKind::kDevice) return;
  if (f.kind != FdKind::kMemfd)
    ThrowErrno(env, ENODEV, "mmap",
               "the handle is " + FdKindName(f.kind) +
                   ": only VFIO devices (and this addon's memfds) are mapped");
  if (offset + length > f.memfd_size) ThrowErrno(env, EINVAL, "mmap", "the mapping would run past the end of the memfd");
}

// memfd(size) -> handle: shared memory that mmap accepts (sealed against any size change), so
// tests on a machine without a VFIO device can exercise mapped regions.
Napi::Value Memfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t size = ArgU64(info, 0, "memfd", "size");
  if (size > static_cast<uint64_t>(INT64_MAX)) ThrowRange(env, "memfd: size must be below 2^63");
  auto file = std::make_shared<File>();
  int fd = static_cast<int>(::syscall(SYS_memfd_create, "vfio", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd < 0) ThrowErrno(env, errno, "memfd_create");
  if (::ftruncate(fd, static_cast<off_t>(size)) < 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    int err = errno;
    ::close(fd);
    ThrowErrno(env, err, "memfd_create");
  }
  file->fd = fd;
  file->kind = FdKind::kMemfd;
  file->memfd_size = size;
  return NewHandle(env, file);
}

Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* f = ArgFile(info, 0, "mmap", "mmap");
  uint64_t offset = ArgU64(info, 1, "mmap", "offset");
  uint64_t length = ArgU64(info, 2, "mmap", "length");
  uint64_t prot = ArgU64(info, 3, "mmap", "prot");
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (length == 0) ThrowRange(env, "mmap: length must be greater than 0");
  if (offset % page) ThrowRange(env, "mmap: offset must be a multiple of the page size");
  // A JS store into a page without PROT_WRITE is a SIGSEGV, and any view JS makes of the
  // buffer can store: only memory that can be written is handed out. Read-only (and
  // write-only) regions go through pread/pwrite.
  if (prot != static_cast<uint64_t>(PROT_READ | PROT_WRITE))
    ThrowRange(env, "mmap: prot must be PROT_READ|PROT_WRITE (3): read-only memory cannot be an ArrayBuffer; use pread");
  if (offset > static_cast<uint64_t>(INT64_MAX) - length) ThrowRange(env, "mmap: offset + length must be below 2^63");
  RequireMappable(env, *f, offset, length);
  void* p = ::mmap(nullptr, length, static_cast<int>(prot), MAP_SHARED, f->fd, static_cast<off_t>(offset));
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
  // MAP_POPULATE commits (and the IOMMU later pins) the whole size at once, so more than the
  // machine's memory can only end in the OOM killer or a long stall; checked before rounding
  // up to a page, which would wrap near 2^64.
  const uint64_t limit = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (length > limit)
    ThrowRange(env, "dmaAlloc: length " + std::to_string(length) + " exceeds the limit of " + std::to_string(limit) +
                        " bytes (the machine's physical memory)");
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
  DetachAndRelease(env, info, 0, m, "dmaFree");  // exposed memory may be parked instead: see above
  return env.Undefined();
}

// dmaPhysical(buffer) -> BigUint64Array: the physical address of each system page of DMA
// memory, for no-IOMMU mode, where the device sees physical memory. The pages are locked
// first, so they stay resident; the kernel hides frame numbers from callers without
// CAP_SYS_ADMIN (it reports 0), which is returned as EPERM.
Napi::Value DmaPhysical(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mem* m = Lookup(info, 0, "dmaPhysical");
  if (!m->dma) ThrowType(env, "dmaPhysical: only memory from dmaAlloc has DMA addresses");
  if (::mlock(m->addr, m->length) < 0) ThrowErrno(env, errno, "mlock", "DMA memory for no-IOMMU mode");
  // Every failure below unlocks again (locked memory counts against RLIMIT_MEMLOCK), unless an
  // earlier call handed the addresses out: a device may be using them, so they stay locked.
  struct Unlock {
    Mem* m;
    bool armed;
    ~Unlock() {
      if (armed && !m->exposed) ::munlock(m->addr, m->length);
    }
  } unlock{m, true};
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t pages = m->length / page;
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(env, errno, "open", "/proc/self/pagemap");
  std::vector<uint64_t> entries(pages);
  const off_t at = static_cast<off_t>(reinterpret_cast<uintptr_t>(m->addr) / page * sizeof(uint64_t));
  size_t got = 0;
  while (got < pages * sizeof(uint64_t)) {
    ssize_t n = ::pread(fd, reinterpret_cast<uint8_t*>(entries.data()) + got, pages * sizeof(uint64_t) - got,
                        at + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      ThrowErrno(env, err, "pread", "/proc/self/pagemap");
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  uint64_t* phys;
  Napi::Value out = NewBigUint64Array(env, pages, &phys, "dmaPhysical");
  constexpr uint64_t kPresent = 1ull << 63;
  constexpr uint64_t kPfnMask = (1ull << 55) - 1;
  for (size_t k = 0; k < pages; k++) {
    const uint64_t pfn = entries[k] & kPfnMask;
    if (!(entries[k] & kPresent)) ThrowErrno(env, EFAULT, "dmaPhysical", "a page of the buffer is not resident");
    if (pfn == 0) ThrowErrno(env, EPERM, "dmaPhysical", "/proc/self/pagemap hides frame numbers without CAP_SYS_ADMIN");
    phys[k] = pfn * page;
  }
  m->exposed = true;
  unlock.armed = false;
  return out;
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  DataOf(env).registry = std::make_shared<Registry>();
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("memfd", Napi::Function::New(env, Memfd, "memfd"));
  exports.Set("dmaAlloc", Napi::Function::New(env, DmaAlloc, "dmaAlloc"));
  exports.Set("dmaFree", Napi::Function::New(env, DmaFree, "dmaFree"));
  exports.Set("dmaPhysical", Napi::Function::New(env, DmaPhysical, "dmaPhysical"));
  exports.Set("drainQuarantine", Napi::Function::New(env, DrainQuarantine, "drainQuarantine"));
}

}  // namespace vfio
