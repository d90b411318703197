// Files as handles. JS never names a file by its fd number: a number can be closed and
// reused between the shim's check and the syscall (another worker thread, `fs`), and VFIO
// reuses ioctl numbers across kinds of file (VFIO_IOMMU_MAP_DMA on a container is
// VFIO_DEVICE_PCI_HOT_RESET on a device), so a swapped number could send a JS-built struct to
// the wrong driver. Instead every file is an FdHandle: an object only this addon can make
// (its constructor refuses JS, and every entry point checks that the object is one it made:
// `live` below), owning its fd until close() or its finalizer closes it exactly once, and carrying what was
// learnt about the file once, when it was made: its kind, whether it is no-IOMMU, a memfd's
// size, and the DMA mappings made through it. No call looks at the fd again to decide.
//
// The kind is classified once, at open(), from the kernel:
//  - a container is the misc device /dev/vfio/vfio (char 10:196);
//  - a group is a char device of the "vfio" major listed in /proc/devices;
//  - a device fd is an anonymous inode named "[vfio-device]" (from a group), or a
//    char device of the "vfio-dev" major (the cdev, /dev/vfio/devices/vfioN);
//  - an iommufd is the misc device whose minor /proc/misc lists as "iommu".
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_set>

#include "handle.h"
#include "memory.h"

namespace vfio {
namespace {

constexpr unsigned kMiscMajor = 10;
constexpr unsigned kVfioMinor = 196;

// The number listed for `name` in a "<number> <name>" table (/proc/devices' character
// section, or /proc/misc), or -1 while the module is not loaded.
long LookupNumber(const char* path, const char* name, bool char_section_only) {
  FILE* f = std::fopen(path, "re");
  if (!f) return -1;
  char line[128];
  bool in_section = !char_section_only;
  long found = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "Character devices:", 18) == 0) in_section = true;
    else if (std::strncmp(line, "Block devices:", 14) == 0) in_section = !char_section_only;
    long number;
    char got[64];
    if (in_section && std::sscanf(line, "%ld %63s", &number, got) == 2 && std::strcmp(got, name) == 0) found = number;
  }
  std::fclose(f);
  return found;
}

// Cached once found: a loaded module keeps its numbers. Not found (-1) is looked up again, as the
// module may load later. Worker threads classify fds concurrently, hence atomics; two threads
// that both look up store the same number.
long Cached(std::atomic<long>& slot, const char* path, const char* name, bool char_section_only) {
  long v = slot.load(std::memory_order_relaxed);
  if (v < 0) {
    v = LookupNumber(path, name, char_section_only);
    if (v >= 0) slot.store(v, std::memory_order_relaxed);
  }
  return v;
}

std::atomic<long> group_major{-1}, cdev_major{-1}, iommufd_minor{-1};

}  // namespace

std::string FdKindName(FdKind k) {
  switch (k) {
    case FdKind::kContainer: return "a VFIO container";
    case FdKind::kGroup: return "a VFIO group";
    case FdKind::kDevice: return "a VFIO device";
    case FdKind::kIommufd: return "an iommufd";
    case FdKind::kEventfd: return "an eventfd";
    case FdKind::kMemfd: return "a memfd";
    default: return "a non-VFIO file";
  }
}

namespace {

// What JS reads as handle.kind.
const char* KindText(FdKind k) {
  switch (k) {
    case FdKind::kContainer: return "container";
    case FdKind::kGroup: return "group";
    case FdKind::kDevice: return "device";
    case FdKind::kIommufd: return "iommufd";
    case FdKind::kEventfd: return "eventfd";
    case FdKind::kMemfd: return "memfd";
    default: return "other";
  }
}

}  // namespace

// fstat(2) without glibc's wrapper: since glibc 2.33 that is the symbol fstat64@GLIBC_2.33
// (before, an inline call to __fxstat64), which would lift the prebuilt addon's glibc floor.
// On these 64-bit targets the kernel's struct stat is the one <sys/stat.h> declares.
static int Fstat(int fd, struct stat* st) {
#if defined(__x86_64__) || defined(__aarch64__)
  return static_cast<int>(::syscall(SYS_fstat, fd, st));
#else
  return ::fstat(fd, st);
#endif
}

FdKind ClassifyFd(int fd) {
  struct stat st;
  if (Fstat(fd, &st) < 0) return FdKind::kOther;
  if (S_ISCHR(st.st_mode)) {
    unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);
    if (maj == kMiscMajor && min == kVfioMinor) return FdKind::kContainer;
    if (maj == kMiscMajor && static_cast<long>(min) == Cached(iommufd_minor, "/proc/misc", "iommu", false))
      return FdKind::kIommufd;
    if (static_cast<long>(maj) == Cached(group_major, "/proc/devices", "vfio", true)) return FdKind::kGroup;
    if (static_cast<long>(maj) == Cached(cdev_major, "/proc/devices", "vfio-dev", true)) return FdKind::kDevice;
    return FdKind::kOther;
  }
  char link[64];
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(proc.c_str(), link, sizeof link - 1);
  if (n > 0) {
    link[n] = '\0';
    if (std::strcmp(link, "anon_inode:[vfio-device]") == 0) return FdKind::kDevice;
  }
  return FdKind::kOther;
}

namespace {

// The handles alive on this thread (one environment per thread). A handle is recognised by
// the pointer its wrapper holds being in this set: napi_unwrap of anything else (a plain
// object, a Poller, another addon's wrapped object) gives a pointer that is not. This costs one
// hash lookup where a type tag costs two private-property reads and a BigInt comparison, and it
// is paid on every call: in the guest (TCG) an empty call through the addon went from 4.6 to
// 3.6 µs with it (bench/README.md, "DMA mapping").
thread_local std::unordered_set<const void*>* live = nullptr;

// The File NewHandle is wrapping, for the constructor: set only while NewHandle calls it. The
// constructor also wants an External pointing here, which JS cannot make, so JS calling it
// (directly, via Reflect.construct or a subclass) gets a TypeError, never a handle.
thread_local std::shared_ptr<File>* pending = nullptr;

class FdHandle : public Napi::ObjectWrap<FdHandle> {
 public:
  // The accessors check their receiver themselves (as the Poller's do): ObjectWrap's would
  // unwrap whatever `this` JS passes.
  static Napi::Function Define(Napi::Env env) {
    Napi::Function ctor = DefineClass(env, "FdHandle", {});
    ctor.Get("prototype").As<Napi::Object>().DefineProperties({
        Napi::PropertyDescriptor::Accessor<&FdHandle::Fd>("fd", napi_configurable),
        Napi::PropertyDescriptor::Accessor<&FdHandle::Kind>("kind", napi_configurable),
        Napi::PropertyDescriptor::Accessor<&FdHandle::Closed>("closed", napi_configurable),
    });
    return ctor;
  }

  FdHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdHandle>(info) {
    Napi::Env env = info.Env();
    if (pending == nullptr || info.Length() != 1 || !info[0].IsExternal() ||
        info[0].As<Napi::External<std::shared_ptr<File>>>().Data() != pending)
      ThrowType(env, "FdHandle: handles are made by open(), groupDeviceFd(), eventfd() and memfd(); "
                     "the constructor cannot be called");
    if (live == nullptr) live = new std::unordered_set<const void*>();  // never freed: finalizers run at exit
    live->insert(this);
    file_ = *pending;
  }

  // The finalizer (garbage collection, or environment teardown): closes what JS left open,
  // unless a live Poller owns the fd (it closes it). Runs no JS and throws nothing.
  ~FdHandle() override {
    if (live != nullptr) live->erase(this);
    if (file_ && !file_->polled && file_->fd >= 0) CloseFile(*file_);
  }

  static FdHandle* Of(Napi::Env env, Napi::Value v) {
    void* p = nullptr;
    if (live == nullptr || napi_unwrap(env, v, &p) != napi_ok || live->count(p) == 0) return nullptr;
    FdHandle* h = static_cast<FdHandle*>(p);
    return h->file_ ? h : nullptr;
  }

  std::shared_ptr<File> file_;

 private:
  static File& Self(const Napi::CallbackInfo& info, const char* what) {
    FdHandle* h = Of(info.Env(), info.This());
    if (h == nullptr) ThrowType(info.Env(), std::string("FdHandle.") + what + ": receiver is not a handle");
    return *h->file_;
  }
  static Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), Self(info, "fd").fd);
  }
  static Napi::Value Kind(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), KindText(Self(info, "kind").kind));
  }
  static Napi::Value Closed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), Self(info, "closed").fd < 0);
  }
};

FdHandle* HandleArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* syscall) {
  Napi::Env env = info.Env();
  FdHandle* h = info.Length() > i ? FdHandle::Of(env, info[i]) : nullptr;
  if (h == nullptr) {
    std::string msg = std::string(fn) + ": argument " + std::to_string(i + 1) +
                      " must be a handle from open(), groupDeviceFd() or eventfd() of this backend";
    if (info.Length() > i && info[i].IsNumber()) msg += " (fd numbers are not accepted)";
    ThrowType(env, msg);
  }
  if (h->file_->fd < 0) ThrowErrno(env, EBADF, syscall, "the handle is closed");
  return h;
}

}  // namespace

File* ArgFile(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* syscall) {
  return HandleArg(info, i, fn, syscall)->file_.get();
}

std::shared_ptr<File> ArgFileShared(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* syscall) {
  return HandleArg(info, i, fn, syscall)->file_;
}

Napi::Object NewHandle(Napi::Env env, std::shared_ptr<File> file) {
  Napi::Object handle;
  pending = &file;
  try {
    handle = DataOf(env).handle_class.New({Napi::External<std::shared_ptr<File>>::New(env, &file)});
  } catch (...) {
    pending = nullptr;
    CloseFile(*file);
    throw;
  }
  pending = nullptr;
  return handle;
}

void MarkClosed(File& f) {
  f.fd = -1;
  if (f.noiommu && f.kind == FdKind::kDevice) {
    f.noiommu = false;
    NoIommuDeviceClosed();
  }
}

void SetNoIommuDevice(File& f) {
  if (f.noiommu) return;
  f.noiommu = true;
  if (f.kind == FdKind::kDevice) NoIommuDeviceOpened();
}

int CloseFile(File& f) {
  if (f.fd < 0) return EBADF;
  // The kernel keeps a container's or IOAS's mappings while a group or device still holds it:
  // unmap them first, so their memory can be freed (or kept for ever when that fails).
  if (!f.records.empty()) UnmapRecords(f);
  const int fd = f.fd;
  MarkClosed(f);
  // Linux releases the fd even when close() reports EINTR: never retry.
  if (::close(fd) < 0 && errno != EINTR) return errno;
  return 0;
}

void InitHandle(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = FdHandle::Define(env);
  DataOf(env).handle_class = Napi::Persistent(ctor);
  exports.Set("FdHandle", ctor);
}

}  // namespace vfio
