// open/close and positioned reads/writes: how config space, I/O-port BARs and
// non-mmappable regions are reached (at the region's offset in the device fd).
#include <fcntl.h>
#include <unistd.h>

#include "shim.h"

namespace vfio {
namespace {

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
  int fd;
  do fd = ::open(path.c_str(), flags | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) ThrowErrno(env, errno, "open", path);
  return Napi::Number::New(env, fd);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "close");
  // Linux releases the fd even when close() reports EINTR: never retry.
  if (::close(fd) < 0 && errno != EINTR) ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// pread/pwrite(fd, bytes, offset) -> bytes transferred; short transfers are the caller's to judge.
template <typename Syscall>
Napi::Value Positional(const Napi::CallbackInfo& info, const char* name, const char* what, Syscall call) {
  int fd = ArgFd(info, 0, name);
  Bytes b = ArgBytes(info, 1, name, what);
  uint64_t off = ArgU64(info, 2, name, "offset");
  if (off > static_cast<uint64_t>(INT64_MAX)) ThrowRange(info.Env(), std::string(name) + ": offset too large");
  ssize_t n;
  do n = call(fd, b.data, b.length, static_cast<off_t>(off)); while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(info.Env(), errno, name);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value PRead(const Napi::CallbackInfo& info) { return Positional(info, "pread", "target", ::pread); }
Napi::Value PWrite(const Napi::CallbackInfo& info) { return Positional(info, "pwrite", "source", ::pwrite); }

}  // namespace

void InitFile(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
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
