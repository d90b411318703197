// What kind of VFIO object an fd is. VFIO reuses ioctl numbers across fd kinds
// (VFIO_IOMMU_MAP_DMA on a container is VFIO_DEVICE_PCI_HOT_RESET on a device),
// so the allow-list is only sound once the fd's kind is known from the kernel,
// not from what JS claims:
//  - a container is the misc device /dev/vfio/vfio (char 10:196);
//  - a group is a char device of the "vfio" major listed in /proc/devices;
//  - a device fd is an anonymous inode named "[vfio-device]".
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "shim.h"

namespace vfio {
namespace {

constexpr unsigned kMiscMajor = 10;
constexpr unsigned kVfioMinor = 196;

// The "vfio" character major, or -1 while the module is not loaded (not cached then).
long VfioGroupMajor() {
  static long cached = -1;
  if (cached >= 0) return cached;
  FILE* f = std::fopen("/proc/devices", "re");
  if (!f) return -1;
  char line[128];
  bool chars = false;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "Character devices:", 18) == 0) chars = true;
    else if (std::strncmp(line, "Block devices:", 14) == 0) chars = false;
    long major;
    char name[64];
    if (chars && std::sscanf(line, "%ld %63s", &major, name) == 2 && std::strcmp(name, "vfio") == 0) cached = major;
  }
  std::fclose(f);
  return cached;
}

}  // namespace

const char* FdKindName(FdKind k) {
  switch (k) {
    case FdKind::kContainer: return "VFIO container";
    case FdKind::kGroup: return "VFIO group";
    case FdKind::kDevice: return "VFIO device";
    default: return "non-VFIO file";
  }
}

FdKind ClassifyFd(Napi::Env env, int fd) {
  struct stat st;
  if (::fstat(fd, &st) < 0) ThrowErrno(env, errno, "fstat");
  if (S_ISCHR(st.st_mode)) {
    unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);
    if (maj == kMiscMajor && min == kVfioMinor) return FdKind::kContainer;
    long group = VfioGroupMajor();
    if (group >= 0 && maj == static_cast<unsigned long>(group)) return FdKind::kGroup;
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
