// ioctl through an allow-list. The kernel trusts the pointer it is given, so every
// request names how its argument is passed and the least the kernel reads or writes
// (its "minsz"). For argsz-style structs the kernel never touches bytes past argsz,
// so argsz <= buffer length keeps it inside the buffer. Requests whose structs carry
// user pointers (MAP_DMA's vaddr, dirty bitmaps) are not here: memory.cc builds those.
// Requests are keyed by (fd kind, number): see fdkind.cc for why.
#include <linux/vfio.h>
#include <sys/ioctl.h>

#include <cstring>

#include "shim.h"

namespace vfio {
namespace {

enum class Arg {
  kNone,     // no argument
  kValue,    // an integer passed by value
  kIntPtr,   // a pointer to one int (an fd)
  kString,   // a NUL-terminated string
  kArgsz,    // a struct starting with u32 argsz, u32 flags
};

struct Request {
  FdKind kind;  // the fd kind the number means this request for
  unsigned long number;
  const char* name;
  Arg arg;
  size_t minsz;          // kArgsz: the kernel's fixed part
  uint32_t flags_allowed;  // kArgsz: flags bits JS may set (others carry pointers or are unknown)
};

constexpr uint32_t kAnyFlags = 0xffffffffu;

// Newer than some libc headers (vfio.h 6.6+, iommufd.h 6.2+): the numbers are uAPI facts.
constexpr unsigned long kVfioDeviceBindIommufd = _IO(VFIO_TYPE, VFIO_BASE + 18);
constexpr unsigned long kVfioDeviceAttachIommufdPt = _IO(VFIO_TYPE, VFIO_BASE + 19);
constexpr unsigned long kVfioDeviceDetachIommufdPt = _IO(VFIO_TYPE, VFIO_BASE + 20);
constexpr unsigned long kIommuDestroy = _IO(';', 0x80);
constexpr unsigned long kIommuIoasAlloc = _IO(';', 0x81);

const Request kRequests[] = {
    {FdKind::kContainer, VFIO_GET_API_VERSION, "VFIO_GET_API_VERSION", Arg::kNone, 0, 0},
    {FdKind::kContainer, VFIO_CHECK_EXTENSION, "VFIO_CHECK_EXTENSION", Arg::kValue, 0, 0},
    {FdKind::kContainer, VFIO_SET_IOMMU, "VFIO_SET_IOMMU", Arg::kValue, 0, 0},
    {FdKind::kGroup, VFIO_GROUP_GET_STATUS, "VFIO_GROUP_GET_STATUS", Arg::kArgsz, 8, kAnyFlags},
    {FdKind::kGroup, VFIO_GROUP_SET_CONTAINER, "VFIO_GROUP_SET_CONTAINER", Arg::kIntPtr, 0, 0},
    {FdKind::kGroup, VFIO_GROUP_UNSET_CONTAINER, "VFIO_GROUP_UNSET_CONTAINER", Arg::kNone, 0, 0},
    {FdKind::kGroup, VFIO_GROUP_GET_DEVICE_FD, "VFIO_GROUP_GET_DEVICE_FD", Arg::kString, 0, 0},
    {FdKind::kDevice, VFIO_DEVICE_GET_INFO, "VFIO_DEVICE_GET_INFO", Arg::kArgsz, 16, kAnyFlags},
    {FdKind::kDevice, VFIO_DEVICE_GET_REGION_INFO, "VFIO_DEVICE_GET_REGION_INFO", Arg::kArgsz, 32, kAnyFlags},
    {FdKind::kDevice, VFIO_DEVICE_GET_IRQ_INFO, "VFIO_DEVICE_GET_IRQ_INFO", Arg::kArgsz, 16, kAnyFlags},
    // SET_IRQS data is inline (bools or eventfds), bounded by argsz.
    {FdKind::kDevice, VFIO_DEVICE_SET_IRQS, "VFIO_DEVICE_SET_IRQS", Arg::kArgsz, 20, kAnyFlags},
    {FdKind::kDevice, VFIO_DEVICE_RESET, "VFIO_DEVICE_RESET", Arg::kNone, 0, 0},
    {FdKind::kDevice, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", Arg::kArgsz, 12, kAnyFlags},
    {FdKind::kDevice, VFIO_DEVICE_PCI_HOT_RESET, "VFIO_DEVICE_PCI_HOT_RESET", Arg::kArgsz, 12, kAnyFlags},
    {FdKind::kContainer, VFIO_IOMMU_GET_INFO, "VFIO_IOMMU_GET_INFO", Arg::kArgsz, 16, kAnyFlags},
    // The cdev's binding to an iommufd. Flags must be 0: later kernels define flags that
    // add user pointers (a VF token) or a PASID.
    {FdKind::kDevice, kVfioDeviceBindIommufd, "VFIO_DEVICE_BIND_IOMMUFD", Arg::kArgsz, 16, 0},
    {FdKind::kDevice, kVfioDeviceAttachIommufdPt, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", Arg::kArgsz, 12, 0},
    {FdKind::kDevice, kVfioDeviceDetachIommufdPt, "VFIO_DEVICE_DETACH_IOMMUFD_PT", Arg::kArgsz, 8, 0},
    // iommufd structs begin with u32 size, which plays argsz's part: the kernel reads and
    // writes no more than `size` bytes. The second word is flags for IOAS_ALLOC (must be
    // 0) and an object id for DESTROY. IOAS_MAP/UNMAP/IOVA_RANGES are built in dmamap.cc.
    {FdKind::kIommufd, kIommuIoasAlloc, "IOMMU_IOAS_ALLOC", Arg::kArgsz, 12, 0},
    {FdKind::kIommufd, kIommuDestroy, "IOMMU_DESTROY", Arg::kArgsz, 8, kAnyFlags},
};

const Request* Find(FdKind kind, unsigned long number) {
  for (const Request& r : kRequests)
    if (r.kind == kind && r.number == number) return &r;
  return nullptr;
}

bool Known(unsigned long number) {
  for (const Request& r : kRequests)
    if (r.number == number) return true;
  return false;
}

Napi::Value Ioctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "ioctl");
  if (info.Length() < 2 || !info[1].IsNumber()) ThrowType(env, "ioctl: request must be a number");
  double reqd = info[1].As<Napi::Number>().DoubleValue();
  unsigned long number = static_cast<unsigned long>(static_cast<uint32_t>(reqd));
  const bool known = reqd >= 0 && reqd <= 0xffffffffu && Known(number);
  if (!known)
    ThrowRange(env, "ioctl: request 0x" + [&] {
      char b[32];
      snprintf(b, sizeof b, "%lx", number);
      return std::string(b);
    }() + " is not on the allow-list (DMA map/unmap go through dmaMap/dmaUnmap, ioasMap/ioasUnmap)");
  // The same number means different requests on different kinds of fd: ask the kernel what fd this is.
  FdKind kind = ClassifyFd(env, fd);
  const Request* req = Find(kind, number);
  if (req == nullptr)
    ThrowErrno(env, ENOTTY, "ioctl",
               std::string("request not valid on fd ") + std::to_string(fd) + " (a " + FdKindName(kind) + ")");

  int rc = -1;
  std::string where = req->name;
  switch (req->arg) {
    case Arg::kNone:
      rc = IoctlRetry(fd, number);
      break;
    case Arg::kValue: {
      uint64_t v = ArgU64(info, 2, req->name, "argument");
      rc = IoctlRetry(fd, number, static_cast<unsigned long>(v));
      break;
    }
    case Arg::kIntPtr: {
      int v = ArgFd(info, 2, req->name);
      rc = IoctlRetry(fd, number, &v);
      break;
    }
    case Arg::kString: {
      if (info.Length() < 3 || !info[2].IsString()) ThrowType(env, where + ": argument must be a string");
      std::string s = info[2].As<Napi::String>().Utf8Value();
      if (s.find('\0') != std::string::npos) ThrowType(env, where + ": argument contains a NUL byte");
      rc = IoctlRetry(fd, number, s.c_str());
      break;
    }
    case Arg::kArgsz: {
      Bytes b = ArgBytes(info, 2, req->name, "argument");
      if (b.length < req->minsz)
        ThrowRange(env, where + ": buffer of " + std::to_string(b.length) + " bytes is smaller than the " +
                            std::to_string(req->minsz) + " the kernel reads");
      uint32_t argsz, flags;
      std::memcpy(&argsz, b.data, 4);
      std::memcpy(&flags, b.data + 4, 4);
      if (argsz > b.length)
        ThrowRange(env, where + ": argsz " + std::to_string(argsz) + " exceeds the buffer's " +
                            std::to_string(b.length) + " bytes");
      if (flags & ~req->flags_allowed) ThrowRange(env, where + ": flags not accepted through this call");
      rc = IoctlRetry(fd, number, b.data);
      break;
    }
  }
  if (rc < 0) ThrowErrno(env, errno, "ioctl", where);
  return Napi::Number::New(env, rc);
}

}  // namespace

void InitIoctl(Napi::Env env, Napi::Object exports) {
  exports.Set("ioctl", Napi::Function::New(env, Ioctl, "ioctl"));
}

}  // namespace vfio
