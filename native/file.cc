// open/close, the group's device fds, and positioned reads/writes: how config space,
// I/O-port BARs and non-mmappable regions are reached (at the region's offset in the device
// fd). open() and groupDeviceFd() are where files become handles (handle.cc says why).
#include <fcntl.h>
#include <linux/vfio.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <string>

#include "handle.h"

namespace vfio {
namespace {

// A group of vfio's no-IOMMU mode: its devices DMA to physical addresses (memory.cc, "Parked
// memory"). Judged by the path the kernel reports for the open file, so a symlink or "..",
// which would hide the name from a check of the path JS gave, cannot.
bool NoIommuGroup(int fd, const std::string& path) {
  static const char kPrefix[] = "/dev/vfio/noiommu-";
  if (path.compare(0, sizeof kPrefix - 1, kPrefix) == 0) return true;
  char link[256];
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(proc.c_str(), link, sizeof link - 1);
  if (n <= 0) return false;
  link[n] = '\0';
  return std::strncmp(link, kPrefix, sizeof kPrefix - 1) == 0;
}

// JS picks only the access mode the library uses (O_RDONLY or O_RDWR); O_CLOEXEC is always
// added so a child process never inherits a container, group or device.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) ThrowType(env, "open: path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.find('\0') != std::string::npos) ThrowType(env, "open: path contains a NUL byte");
  int flags = O_RDWR;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber()) ThrowType(env, "open: flags must be a number");
    // Compared as a double: ToInt32 would turn NaN, 1.5 or 2^32+2 into accepted flags.
    double d = info[1].As<Napi::Number>().DoubleValue();
    if (d != O_RDONLY && d != O_RDWR)
      ThrowRange(env, "open: flags must be only O_RDONLY (0) or O_RDWR (2) (O_CLOEXEC is always added), got " +
                          NumberText(info[1]));
    flags = d == O_RDONLY ? O_RDONLY : O_RDWR;
  }
  auto file = std::make_shared<File>();  // before the fd exists: nothing to leak if it throws
  int fd;
  do fd = ::open(path.c_str(), flags | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) ThrowErrno(env, errno, "open", path);
  file->fd = fd;
  file->kind = ClassifyFd(fd);
  if (file->kind == FdKind::kGroup && NoIommuGroup(fd, path)) file->noiommu = true;
  return NewHandle(env, file);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* f = ArgFile(info, 0, "close", "close");
  if (f->polled) ThrowErrno(env, EBUSY, "close", "an armed poller owns this eventfd; close the poller");
  int err = CloseFile(*f);
  if (err) ThrowErrno(env, err, "close");
  return env.Undefined();
}

constexpr size_t kDeviceNameMax = 64;  // a PCI name is 12 characters
constexpr char kVfTokenOption[] = " vf_token=";
constexpr size_t kUuidStringLen = 36;

// The name as src/backend/args.ts argDeviceName takes it: a device name of 1 to
// kDeviceNameMax printable characters without spaces, optionally followed by exactly one
// " vf_token=<UUID>" (vfio-pci's SR-IOV VF token); nothing else reaches the kernel's parser.
void CheckDeviceName(Napi::Env env, const std::string& name) {
  size_t space = name.find(' ');
  size_t dev_len = space == std::string::npos ? name.size() : space;
  bool dev_ok = dev_len > 0 && dev_len <= kDeviceNameMax;
  for (size_t i = 0; dev_ok && i < dev_len; i++) dev_ok = name[i] >= 0x21 && name[i] <= 0x7e;
  if (!dev_ok)
    ThrowType(env, "groupDeviceFd: the device name must be 1 to " + std::to_string(kDeviceNameMax) +
                       " printable characters without spaces");
  if (space == std::string::npos) return;
  const size_t opt_len = sizeof(kVfTokenOption) - 1;
  bool ok = name.size() == space + opt_len + kUuidStringLen && name.compare(space, opt_len, kVfTokenOption) == 0;
  for (size_t i = 0; ok && i < kUuidStringLen; i++) {
    char c = name[space + opt_len + i];
    ok = (i == 8 || i == 13 || i == 18 || i == 23) ? c == '-' : std::isxdigit(static_cast<unsigned char>(c)) != 0;
  }
  if (!ok)
    ThrowType(env, "groupDeviceFd: after the device name only ' vf_token=<UUID>' may follow (36 characters: 8-4-4-4-12 hex digits)");
}

// groupDeviceFd(group, name) -> device handle: VFIO_GROUP_GET_DEVICE_FD, the one ioctl that
// makes an fd, hence not through ioctl(). A device of a no-IOMMU group is no-IOMMU too.
Napi::Value GroupDeviceFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* group = ArgFile(info, 0, "groupDeviceFd", "ioctl");
  if (info.Length() < 2 || !info[1].IsString()) ThrowType(env, "groupDeviceFd: name must be a string");
  std::string name = info[1].As<Napi::String>().Utf8Value();
  if (name.find('\0') != std::string::npos) ThrowType(env, "groupDeviceFd: name contains a NUL byte");
  CheckDeviceName(env, name);
  if (group->kind != FdKind::kGroup)
    ThrowErrno(env, ENOTTY, "ioctl",
               "VFIO_GROUP_GET_DEVICE_FD: the handle is " + FdKindName(group->kind) + ", not a VFIO group");
  auto file = std::make_shared<File>();
  file->kind = FdKind::kDevice;
  // The kernel makes the fd close-on-exec.
  int fd = IoctlRetry(group->fd, VFIO_GROUP_GET_DEVICE_FD, name.c_str());
  if (fd < 0) ThrowErrno(env, errno, "ioctl", "VFIO_GROUP_GET_DEVICE_FD");
  file->fd = fd;
  if (group->noiommu) SetNoIommuDevice(*file);
  return NewHandle(env, file);
}

// pread/pwrite(handle, bytes, offset) -> bytes transferred; short transfers are the caller's to judge.
template <typename Syscall>
Napi::Value Positional(const Napi::CallbackInfo& info, const char* name, const char* what, Syscall call) {
  File* f = ArgFile(info, 0, name, name);
  Bytes b = ArgBytes(info, 1, name, what);
  uint64_t off = ArgU64(info, 2, name, "offset");
  if (off > static_cast<uint64_t>(INT64_MAX)) ThrowRange(info.Env(), std::string(name) + ": offset too large");
  if (f->kind == FdKind::kEventfd)
    ThrowErrno(info.Env(), EINVAL, name, "the handle is an eventfd; use eventfdRead/eventfdWrite");
  ssize_t n;
  do n = call(f->fd, b.data, b.length, static_cast<off_t>(off)); while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(info.Env(), errno, name);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value PRead(const Napi::CallbackInfo& info) { return Positional(info, "pread", "target", ::pread); }
Napi::Value PWrite(const Napi::CallbackInfo& info) { return Positional(info, "pwrite", "source", ::pwrite); }

}  // namespace

void InitFile(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("groupDeviceFd", Napi::Function::New(env, GroupDeviceFd, "groupDeviceFd"));
  exports.Set("pread", Napi::Function::New(env, PRead, "pread"));
  exports.Set("pwrite", Napi::Function::New(env, PWrite, "pwrite"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("O_RDONLY", O_RDONLY);
  c.Set("O_WRONLY", O_WRONLY);
  c.Set("O_RDWR", O_RDWR);
  c.Set("O_NONBLOCK", O_NONBLOCK);
  c.Set("pageSize", static_cast<double>(sysconf(_SC_PAGESIZE)));
  exports.Set("constants", c);
}

}  // namespace vfio
