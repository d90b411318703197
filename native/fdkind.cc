// What kind of VFIO object an fd is. VFIO reuses ioctl numbers across fd kinds
// (VFIO_IOMMU_MAP_DMA on a container is VFIO_DEVICE_PCI_HOT_RESET on a device),
// so the allow-list is only sound once the fd's kind is known from the kernel,
// not from what JS claims:
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

#include "shim.h"

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

const char* FdKindName(FdKind k) {
  switch (k) {
    case FdKind::kContainer: return "VFIO container";
    case FdKind::kGroup: return "VFIO group";
    case FdKind::kDevice: return "VFIO device";
    case FdKind::kIommufd: return "iommufd";
    default: return "non-VFIO file";
  }
}

// fstat(2) without glibc's wrapper: since glibc 2.33 that is the symbol fstat64@GLIBC_2.33
// (before, an inline call to __fxstat64), which would lift the prebuilt addon's glibc floor.
// On these 64-bit targets the kernel's struct stat is the one <sys/stat.h> declares.
int Fstat(int fd, struct stat* st) {
#if defined(__x86_64__) || defined(__aarch64__)
  return static_cast<int>(::syscall(SYS_fstat, fd, st));
#else
  return ::fstat(fd, st);
#endif
}

FdKind ClassifyFd(Napi::Env env, int fd) {
  struct stat st;
  // Named for the call JS made (as the kernel's own EBADF from ioctl would be), not for this probe.
  if (Fstat(fd, &st) < 0) ThrowErrno(env, errno, "ioctl");
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

void RequireFdKind(Napi::Env env, int fd, FdKind want, const char* what) {
  FdKind got = ClassifyFd(env, fd);
  if (got != want)
    ThrowErrno(env, ENOTTY, "ioctl",
               std::string(what) + ": fd " + std::to_string(fd) + " is a " + FdKindName(got) + ", not a " + FdKindName(want));
}

}  // namespace vfio
