// bindIommufd(device, iommufd[, token]) -> out_devid: VFIO_DEVICE_BIND_IOMMUFD, built here and
// never taken from JS, since with a VF token (VFIO_DEVICE_BIND_FLAG_TOKEN, Linux 6.17+) the
// struct carries a pointer to it. Without a token the kernel gets the 16 bytes every cdev kernel
// reads, flags 0: exactly the call of a kernel before 6.17. The number, flag and sizes come from
// src/uapi/iommufd.ts through allowlist.gen.h.
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "allowlist.gen.h"
#include "handle.h"

namespace vfio {
namespace {

// Declared here: the installed <linux/vfio.h> may predate token_uuid_ptr.
struct BindIommufdArg {
  uint32_t argsz;
  uint32_t flags;
  int32_t iommufd;
  uint32_t out_devid;
  uint64_t token_uuid_ptr;
};
static_assert(offsetof(BindIommufdArg, token_uuid_ptr) == kBindMinsz && sizeof(BindIommufdArg) == kBindSize,
              "BindIommufdArg disagrees with vfioDeviceBindIommufd in src/uapi/iommufd.ts");

constexpr size_t kTokenSize = 16;  // a uuid_t
constexpr char kFn[] = "bindIommufd";
constexpr char kRequest[] = "VFIO_DEVICE_BIND_IOMMUFD";

Napi::Value BindIommufd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* device = ArgFile(info, 0, kFn, "ioctl");
  File* iommufd = ArgFile(info, 1, kFn, "ioctl");
  const bool has_token = info.Length() > 2 && !info[2].IsUndefined();
  // Copied before anything else: another thread may rewrite a SharedArrayBuffer while the kernel
  // reads, and the kernel is pointed only at this copy.
  std::array<uint8_t, kTokenSize> token{};
  if (has_token) {
    Bytes b = ArgBytes(info, 2, kFn, "token");
    if (b.length != kTokenSize)
      ThrowRange(env, std::string(kFn) + ": token must be " + std::to_string(kTokenSize) + " bytes (a uuid_t), got " +
                          std::to_string(b.length));
    std::memcpy(token.data(), b.data, kTokenSize);
  }
  if (device->kind != FdKind::kDevice)
    ThrowErrno(env, ENOTTY, "ioctl", std::string(kRequest) + ": the handle is " + FdKindName(device->kind) + ", not a VFIO device");
  // iommufd_ctx_from_fd's answer for a file that is no iommufd.
  if (iommufd->kind != FdKind::kIommufd)
    ThrowErrno(env, EBADFD, "ioctl", std::string(kRequest) + ": argument 2 is " + FdKindName(iommufd->kind) + ", not an iommufd");
  BindIommufdArg arg{};
  arg.argsz = has_token ? kBindSize : kBindMinsz;
  arg.flags = has_token ? kBindFlagToken : 0;
  arg.iommufd = iommufd->fd;
  arg.token_uuid_ptr = has_token ? reinterpret_cast<uintptr_t>(token.data()) : 0;
  if (IoctlRetry(device->fd, kBindIommufd, &arg) < 0) ThrowErrno(env, errno, "ioctl", kRequest);
  return Napi::Number::New(env, arg.out_devid);
}

}  // namespace

void InitBind(Napi::Env env, Napi::Object exports) {
  exports.Set("bindIommufd", Napi::Function::New(env, BindIommufd, "bindIommufd"));
}

}  // namespace vfio
