// Shared helpers for the vfio shim: argument checks and errno errors.
// Every entry point validates its JS arguments here before a syscall sees them,
// so a JS mistake becomes a thrown TypeError/RangeError, never undefined behaviour.
#pragma once

#include <napi.h>
#include <sys/ioctl.h>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

namespace vfio {

// Throws an Error shaped like Node's system errors: message, code ('EINVAL'), errno (negative,
// as Node's: -22), syscall.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail = "");
// The symbolic name of an errno ("EBADFD", "ENOTSUPP"), or "ERRNO_<n>" for a value with none.
std::string ErrnoName(int err);

[[noreturn]] void ThrowType(Napi::Env env, const std::string& msg);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& msg);

// A Number as JavaScript prints it (1.5, -1, NaN), so errors read the same as the fake kernel's.
std::string NumberText(Napi::Value number);

// A file descriptor argument: an integer in [0, INT_MAX].
int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* fn);
// A non-negative integer that fits in 64 bits, given as a safe-integer Number or a BigInt.
uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name);
// Bytes of an ArrayBufferView (Buffer, Uint8Array, DataView, ...). Empty views give data == nullptr.
struct Bytes {
  uint8_t* data;
  size_t length;
};
Bytes ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name);

// ioctl(2), restarted when a signal interrupts it; -1 with errno set on failure.
template <typename... Arg>
int IoctlRetry(int fd, unsigned long request, Arg... arg) {
  int rc;
  do rc = ::ioctl(fd, request, arg...); while (rc < 0 && errno == EINTR);
  return rc;
}

// A new BigUint64Array of n elements for JS; *data points at its storage. `fn` names the call in errors.
Napi::Value NewBigUint64Array(Napi::Env env, size_t n, uint64_t** data, const char* fn);

// What a file is. Classified once, when a handle is made (handle.cc), and read from the
// handle on every call after: VFIO reuses ioctl numbers across kinds, and a number checked
// by fstat before each call could be closed and reused by another thread before the call.
enum class FdKind { kOther, kContainer, kGroup, kDevice, kIommufd, kEventfd, kMemfd };
// From fstat/readlink of an fd open()ed from a path (never fails: unknown is kOther).
FdKind ClassifyFd(int fd);
// For messages: "a VFIO container", "an eventfd", "a non-VFIO file", ...
std::string FdKindName(FdKind k);

// Per-environment state: the registry of memory handed to JS (memory.h) and the FdHandle class.
struct Registry;
struct AddonData {
  std::shared_ptr<Registry> registry;
  Napi::FunctionReference handle_class;
};
AddonData& DataOf(Napi::Env env);

// Registration of each concern's exports.
void InitHandle(Napi::Env env, Napi::Object exports);
void InitFile(Napi::Env env, Napi::Object exports);
void InitIoctl(Napi::Env env, Napi::Object exports);
void InitBind(Napi::Env env, Napi::Object exports);
void InitMemory(Napi::Env env, Napi::Object exports);
void InitDmaMap(Napi::Env env, Napi::Object exports);
void InitEventfd(Napi::Env env, Napi::Object exports);

}  // namespace vfio
