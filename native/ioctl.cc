// ioctl through an allow-list. The kernel trusts the pointer it is given, so every
// request names how its argument is passed and the least the kernel reads or writes
// (its "minsz"). For argsz-style structs the kernel never touches bytes past argsz,
// so argsz <= buffer length keeps it inside the buffer, provided the argsz checked is the
// argsz the kernel reads: the kernel gets a private copy, never JS memory. Requests whose structs carry
// user pointers (MAP_DMA's vaddr, dirty bitmaps, BIND_IOMMUFD's VF token) are not here: dmamap.cc and
// bind.cc build those.
// Requests are keyed by (file kind, number), the kind recorded in the handle when the file was
// opened (handle.cc says why, and why never an fd number). The table itself
// (allowlist.gen.h) is generated from src/backend/allowlist.ts, which the fake kernel
// enforces too.
#include <sys/ioctl.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "allowlist.gen.h"
#include "handle.h"

namespace vfio {
namespace {

const Request* Find(FdKind kind, unsigned long number) {
  for (const Request& r : kRequests)
    if (r.kind == kind && r.number == number) return &r;
  return nullptr;
}

constexpr unsigned long kIommuDestroy = _IO(';', 0x80);

// The most an argsz-style argument may claim; the private copy below is this big at most.
constexpr uint32_t kMaxArgsz = 1u << 20;

bool Known(unsigned long number) {
  for (const Request& r : kRequests)
    if (r.number == number) return true;
  return false;
}

Napi::Value Ioctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* f = ArgFile(info, 0, "ioctl", "ioctl");
  if (info.Length() < 2 || !info[1].IsNumber()) ThrowType(env, "ioctl: request must be a number");
  // Checked before the cast: a fraction would otherwise truncate onto a listed request,
  // and converting a double outside unsigned range is undefined behaviour.
  double reqd = info[1].As<Napi::Number>().DoubleValue();
  if (!(reqd >= 0 && reqd <= 0xffffffffu) || std::floor(reqd) != reqd)
    ThrowRange(env, "ioctl: request must be an integer in [0, 2^32), got " + NumberText(info[1]));
  unsigned long number = static_cast<unsigned long>(reqd);
  if (!Known(number)) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%lx", number);
    ThrowRange(env, std::string("ioctl: request ") + hex +
                        " is not on the allow-list (DMA map/unmap go through dmaMap/dmaUnmap, ioasMap/ioasUnmap; "
                        "GET_DEVICE_FD through groupDeviceFd; BIND_IOMMUFD through bindIommufd)");
  }
  // The same number means different requests on different kinds of file: the handle says which this is.
  const Request* req = Find(f->kind, number);
  if (req == nullptr)
    ThrowErrno(env, ENOTTY, "ioctl", "request not valid on " + FdKindName(f->kind));
  const int fd = f->fd;

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
      // An fd the kernel checks itself (SET_CONTAINER's container): a handle's, or a number.
      int v = info.Length() > 2 && info[2].IsObject() ? ArgFile(info, 2, req->name, "ioctl")->fd : ArgFd(info, 2, req->name);
      rc = IoctlRetry(fd, number, &v);
      break;
    }
    case Arg::kArgsz: {
      Bytes b = ArgBytes(info, 2, req->name, "argument");
      if (b.length < req->minsz)
        ThrowRange(env, where + ": buffer of " + std::to_string(b.length) + " bytes is smaller than the " +
                            std::to_string(req->minsz) + " the kernel reads");
      // The view may be a SharedArrayBuffer another thread writes while we run. Whatever we check
      // there, the kernel would fetch again later (argsz flipped to 4096 after our check: the kernel
      // writes capability data past the buffer). So: one fetch of argsz sizes a private copy, every
      // check below reads the copy, the kernel gets the copy, and the copy comes back afterwards.
      uint32_t first;
      std::memcpy(&first, b.data, 4);
      if (first > b.length)
        ThrowRange(env, where + ": argsz " + std::to_string(first) + " exceeds the buffer's " +
                            std::to_string(b.length) + " bytes");
      // Bounded: the largest real argument (SET_IRQS with an eventfd per MSI-X vector) is ~8 KiB.
      if (first > kMaxArgsz)
        ThrowRange(env, where + ": argsz " + std::to_string(first) + " is over the shim's limit of " +
                            std::to_string(kMaxArgsz) + " bytes");
      // The kernel reads its fixed part whatever argsz says (and fails the call if argsz is smaller).
      size_t len = first < req->minsz ? req->minsz : first;
      std::vector<uint8_t> copy(b.data, b.data + len);
      uint32_t argsz, flags;
      std::memcpy(&argsz, copy.data(), 4);
      std::memcpy(&flags, copy.data() + 4, 4);
      // Differs from `first` only if another thread changed it between the two reads.
      if (argsz > len)
        ThrowRange(env, where + ": argsz " + std::to_string(argsz) + " exceeds the buffer's " +
                            std::to_string(len) + " bytes (it changed while the call read it)");
      if (flags & ~req->flags_allowed) ThrowRange(env, where + ": flags not accepted through this call");
      if (req->count_at != 0) {
        uint32_t count;
        std::memcpy(&count, copy.data() + req->count_at, 4);
        // 64-bit arithmetic: count * elem_size cannot wrap.
        if (req->minsz + static_cast<uint64_t>(count) * req->elem_size > argsz)
          ThrowRange(env, where + ": " + std::to_string(count) + " element(s) of " + std::to_string(req->elem_size) +
                              " bytes at " + std::to_string(req->minsz) + " run past argsz " + std::to_string(argsz));
      }
      rc = IoctlRetry(fd, number, copy.data());
      int err = errno;
      // Back whatever the kernel wrote, on failure too (ENOSPC from GET_PCI_HOT_RESET_INFO carries
      // the count needed). b is still valid: no JS runs on this thread between ArgBytes and here, so
      // nothing detaches or shrinks a plain ArrayBuffer (resizable ones only resize from their own
      // thread); another thread can neither detach a SharedArrayBuffer nor shrink a growable one.
      std::memcpy(b.data, copy.data(), len);
      // A destroyed IOAS takes its mappings with it: forget their records (and free memory whose
      // buffer was collected while it was mapped). DESTROY's second word is the object id.
      if (rc >= 0 && f->kind == FdKind::kIommufd && number == kIommuDestroy) {
        uint32_t id;
        std::memcpy(&id, copy.data() + 4, 4);
        ForgetRecords(*f, id, true, 0, 0);
      }
      errno = err;
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
