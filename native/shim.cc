// Argument validation and error construction shared by every entry point.
#include "shim.h"

#include "memory.h"

#include <climits>
#include <cmath>
#include <cstring>

namespace vfio {

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  const std::string name = ErrnoName(err);
  const char* code = name.c_str();
  std::string msg = std::string(syscall) + " failed: " + std::strerror(err) + " (" + code + ")";
  if (!detail.empty()) msg += ": " + detail;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  throw e;
}

void ThrowType(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

Napi::Value NewBigUint64Array(Napi::Env env, size_t n, uint64_t** data, const char* fn) {
  void* storage;
  napi_value ab, out;
  if (napi_create_arraybuffer(env, n * sizeof(uint64_t), &storage, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_biguint64_array, n, ab, 0, &out) != napi_ok)
    ThrowType(env, std::string(fn) + ": could not allocate the result");
  *data = static_cast<uint64_t*>(storage);
  return Napi::Value(env, out);
}
void ThrowRange(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

// Coercing a primitive runs no JS, so this cannot call back into hostile code.
std::string NumberText(Napi::Value number) { return number.ToString().Utf8Value(); }

AddonData& DataOf(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber())
    ThrowType(env, std::string(fn) + ": argument " + std::to_string(i + 1) + " (fd) must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= INT_MAX) || std::floor(d) != d)
    ThrowRange(env, std::string(fn) + ": fd must be an integer in [0, 2^31), got " + NumberText(info[i]));
  return static_cast<int>(d);
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  Napi::Env env = info.Env();
  std::string where = std::string(fn) + ": " + name;
  if (info.Length() <= i) ThrowType(env, where + " is required");
  Napi::Value v = info[i];
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) ThrowRange(env, where + " must be a BigInt in [0, 2^64)");
    return u;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0) || std::floor(d) != d)
      ThrowRange(env, where + " must be a non-negative safe integer (or a BigInt), got " + NumberText(v));
    return static_cast<uint64_t>(d);
  }
  ThrowType(env, where + " must be a number or a BigInt");
}

Bytes ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !(info[i].IsTypedArray() || info[i].IsDataView()))
    ThrowType(env, std::string(fn) + ": " + name + " must be a Buffer, TypedArray or DataView");
  napi_value v = info[i];
  void* data = nullptr;
  size_t length = 0;
  napi_value ab = nullptr;
  napi_status st;
  if (info[i].IsTypedArray()) {
    napi_typedarray_type type;
    size_t elements = 0;
    size_t byteOffset = 0;
    st = napi_get_typedarray_info(env, v, &type, &elements, &data, &ab, &byteOffset);
    length = elements * info[i].As<Napi::TypedArray>().ElementSize();
  } else {
    size_t byteOffset = 0;
    st = napi_get_dataview_info(env, v, &length, &data, &ab, &byteOffset);
  }
  if (st != napi_ok) ThrowType(env, std::string(fn) + ": could not read " + name);
  // A view over a detached buffer reports 0 bytes at NULL, which would pass for an empty
  // buffer (or fail a size check with a misleading message): name the cause instead.
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok) ThrowType(env, std::string(fn) + ": could not read " + name);
  if (detached || (length > 0 && data == nullptr))
    ThrowType(env, std::string(fn) + ": " + name + " is backed by a detached (freed) buffer");
  return Bytes{static_cast<uint8_t*>(data), length};
}

}  // namespace vfio

// errno -> name, exported so tests can hold the table against Node's own names.
static Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) vfio::ThrowType(info.Env(), "errnoName: errno must be a number");
  return Napi::String::New(info.Env(), vfio::ErrnoName(info[0].As<Napi::Number>().Int32Value()));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new vfio::AddonData());
  exports.Set("errnoName", Napi::Function::New(env, ErrnoNameJs, "errnoName"));
  vfio::InitHandle(env, exports);
  vfio::InitFile(env, exports);
  vfio::InitIoctl(env, exports);
  vfio::InitBind(env, exports);
  vfio::InitMemory(env, exports);
  vfio::InitDmaMap(env, exports);
  vfio::InitEventfd(env, exports);
  return exports;
}

NODE_API_MODULE(vfio, Init)
