// eventfds and their delivery on the event loop.
//
// A Poller watches one eventfd with uv_poll on the loop of the environment that made
// it (never uv_default_loop: workers have their own). On readiness it reads the
// counter and calls JS with MakeCallback semantics, so microtasks drain after each
// interrupt. EAGAIN on read is a spurious wakeup and is ignored.
//
// A Poller takes an eventfd handle (handle.h) and owns its file from then on: it co-owns the
// File, marks it polled (close(handle) is then EBUSY, and the handle's finalizer leaves the fd
// alone), and is the only thing that closes the fd. close() stops the poll and marks the
// handle closed at once, so no JS call can reach the fd again; the fd itself is closed in the
// uv close callback, after libuv has dropped it from epoll. An async cleanup hook does the
// same at environment teardown, so a worker can exit with a poller still armed and leak
// nothing. The fd is never a number JS gave: another thread closing and reusing numbers
// cannot make a poller watch, read or close a file it was not given.
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <string>

#include "handle.h"

namespace vfio {
namespace {

// eventfd read/write on any other file would read or write 8 bytes of a device or file.
File* ArgEventfd(const Napi::CallbackInfo& info, const char* fn, const char* syscall) {
  File* f = ArgFile(info, 0, fn, syscall);
  if (f->kind != FdKind::kEventfd) ThrowErrno(info.Env(), EINVAL, syscall, "not an eventfd");
  return f;
}

// Counts above 2^53-1 would round as a Number.
constexpr uint64_t kMaxExactCount = (1ull << 53) - 1;

Napi::Value EventfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t init = info.Length() > 0 ? ArgU64(info, 0, "eventfd", "initval") : 0;
  if (init > 0xffffffffu) ThrowRange(env, "eventfd: initval must fit in 32 bits");
  auto file = std::make_shared<File>();
  int fd = ::eventfd(static_cast<unsigned>(init), EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) ThrowErrno(env, errno, "eventfd");
  file->fd = fd;
  file->kind = FdKind::kEventfd;
  return NewHandle(env, file);
}

Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  File* f = ArgEventfd(info, "eventfdWrite", "write");
  uint64_t v = info.Length() > 1 ? ArgU64(info, 1, "eventfdWrite", "value") : 1;
  if (v == 0 || v == UINT64_MAX) ThrowRange(env, "eventfdWrite: value must be in [1, 2^64-2]");
  const int fd = f->fd;
  ssize_t n;
  do n = ::write(fd, &v, sizeof v); while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(env, errno, "write", "eventfd");
  return env.Undefined();
}

// Returns the counter (and resets it), or null when nothing was pending.
Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ArgEventfd(info, "eventfdRead", "read")->fd;
  uint64_t v = 0;
  ssize_t n;
  do n = ::read(fd, &v, sizeof v); while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return env.Null();
  if (n < 0) ThrowErrno(env, errno, "read", "eventfd");
  if (v > kMaxExactCount) {
    // Put it back (writes add, and the counter is 0 after the read), so nothing is lost.
    ssize_t w;
    do w = ::write(fd, &v, sizeof v); while (w < 0 && errno == EINTR);
    ThrowRange(env, "eventfdRead: the counter " + std::to_string(v) +
                        " is above 2^53-1 and cannot be returned exactly; it was left in the eventfd");
  }
  return Napi::Number::New(env, static_cast<double>(v));
}

class Poller;

// Marks objects made by the Poller constructor (napi_type_tag_object); random, so no other
// addon's tag can equal it.
const napi_type_tag kPollerTag = {0x6a1f0c5e3b9d4e27ull, 0xb3c8d2f1a7e64905ull};

// Outlives the JS wrapper: owned by the uv handle until its close callback runs.
struct PollState {
  uv_poll_t handle;
  int fd;                     // the file's fd, closed in OnClosed
  std::shared_ptr<File> file;  // marked closed by Shutdown
  napi_env env;
  Poller* owner;  // null once the wrapper is gone
  Napi::FunctionReference callback;
  Napi::AsyncContext* async = nullptr;
  napi_async_cleanup_hook_handle hook = nullptr;
  bool closing = false;
};

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  // The prototype's members are plain functions that check their receiver themselves:
  // ObjectWrap's would unwrap whatever `this` JS passes (Poller.prototype.close.call({}),
  // or another addon's wrapped object) and use it as a Poller.
  static Napi::Function Define(Napi::Env env) {
    Napi::Function ctor = DefineClass(env, "Poller", {});
    ctor.Get("prototype").As<Napi::Object>().DefineProperties({
        Napi::PropertyDescriptor::Function(env, Napi::Object(), "ref", &Poller::Ref, napi_default_method),
        Napi::PropertyDescriptor::Function(env, Napi::Object(), "unref", &Poller::Unref, napi_default_method),
        Napi::PropertyDescriptor::Function(env, Napi::Object(), "close", &Poller::Close, napi_default_method),
        Napi::PropertyDescriptor::Accessor<&Poller::Closed>("closed", napi_configurable),
    });
    return ctor;
  }

  // new Poller(eventfd handle, callback(err, count)): owns the handle's file once made. Until
  // then nothing is changed: a constructor that throws leaves the handle open and unpolled.
  Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    Napi::Env env = info.Env();
    if (napi_type_tag_object(env, info.This(), &kPollerTag) != napi_ok) ThrowType(env, "Poller: could not tag the new object");
    std::shared_ptr<File> file = ArgFileShared(info, 0, "Poller", "uv_poll_init");
    if (file->kind != FdKind::kEventfd) ThrowErrno(env, EINVAL, "uv_poll_init", "not an eventfd");
    if (file->polled) ThrowErrno(env, EBUSY, "uv_poll_init", "another poller owns this eventfd");
    const int fd = file->fd;
    if (info.Length() < 2 || !info[1].IsFunction()) ThrowType(env, "Poller: callback must be a function");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr)
      ThrowType(env, "Poller: no event loop for this environment");
    auto* st = new PollState();
    st->fd = fd;
    st->env = env;
    st->owner = this;
    int rc = uv_poll_init(loop, &st->handle, fd);
    if (rc < 0) {
      delete st;
      ThrowErrno(env, -rc, "uv_poll_init");
    }
    st->handle.data = st;
    rc = uv_poll_start(&st->handle, UV_READABLE, OnReadable);
    if (rc < 0) {
      st->closing = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&st->handle), [](uv_handle_t* h) { delete static_cast<PollState*>(h->data); });
      ThrowErrno(env, -rc, "uv_poll_start");
    }
    // From here nothing throws (but bad_alloc, which ends the process anyway): the poller is armed.
    st->callback = Napi::Persistent(info[1].As<Napi::Function>());
    st->async = new Napi::AsyncContext(env, "vfio:eventfd");
    napi_add_async_cleanup_hook(env, OnTeardown, st, &st->hook);
    st->file = std::move(file);
    st->file->polled = true;
    state_ = st;
    Napi::ObjectWrap<Poller>::Ref();  // an armed poller keeps its wrapper alive until close()
  }

  ~Poller() override {
    if (state_ != nullptr) {
      state_->owner = nullptr;
      Shutdown(state_, false);
    }
  }

 private:
  static void OnReadable(uv_poll_t* h, int status, int events) {
    auto* st = static_cast<PollState*>(h->data);
    if (st->closing) return;
    uint64_t count = 0;
    int err = 0;
    if (status < 0) {
      err = -status;
    } else {
      ssize_t n;
      do n = ::read(st->fd, &count, sizeof count); while (n < 0 && errno == EINTR);
      if (n < 0 && errno == EAGAIN) return;  // spurious wakeup
      if (n < 0) err = errno;
    }
    Napi::Env env(st->env);
    // Nothing may escape into libuv: a C++ exception here would reach std::terminate.
    try {
      Napi::HandleScope scope(env);
      Napi::Value errv = env.Null();
      if (err) {
        // ErrnoName, not uv_err_name: libuv allocates (and never frees) a name for an errno it does not know.
        const std::string name = ErrnoName(err);
        Napi::Error e = Napi::Error::New(env, "eventfd poll failed: " + name);
        e.Set("code", Napi::String::New(env, name));
        e.Set("errno", Napi::Number::New(env, -err));
        e.Set("syscall", Napi::String::New(env, "uv_poll"));
        errv = e.Value();
      }
      napi_value argv[2] = {errv, Napi::Number::New(env, static_cast<double>(count))};
      napi_value result;
      if (napi_make_callback(env, *st->async, env.Global(), st->callback.Value(), 2, argv, &result) == napi_ok) return;
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        // A listener threw: report it like any uncaught exception from a callback.
        napi_value exc;
        if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
        return;
      }
    } catch (const Napi::Error&) {
      // Building the call's arguments failed: the environment is going away, as below.
    }
    // The call failed with nothing pending: the environment is terminating (a worker being
    // stopped) and can run no more JS. Stop polling; its teardown hook closes the fd.
    uv_poll_stop(&st->handle);
  }

  // Stops polling, drops the JS callback, and closes the handle; the fd is closed once
  // libuv is done with it. from_hook: called by the teardown hook, which must be told
  // (by removing it) when the handle is closed.
  static void Shutdown(PollState* st, bool from_hook) {
    if (st->closing) return;
    st->closing = true;
    // Closed to JS from now on; the fd itself once libuv let go of it (OnClosed).
    if (st->file) MarkClosed(*st->file);
    uv_poll_stop(&st->handle);
    st->callback.Reset();
    delete st->async;
    st->async = nullptr;
    if (!from_hook && st->hook != nullptr) {
      napi_remove_async_cleanup_hook(st->hook);
      st->hook = nullptr;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&st->handle), OnClosed);
  }

  static void OnClosed(uv_handle_t* h) {
    auto* st = static_cast<PollState*>(h->data);
    if (st->file) {  // null when uv_poll_start failed: the handle keeps its fd
      ::close(st->fd);
      st->file->polled = false;
    }
    if (st->owner != nullptr) st->owner->state_ = nullptr;
    if (st->hook != nullptr) napi_remove_async_cleanup_hook(st->hook);  // teardown waits for this
    delete st;
  }

  static void OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
    auto* st = static_cast<PollState*>(arg);
    Shutdown(st, true);
  }

  // The Poller behind `this`, or a TypeError: only objects this constructor made carry the tag.
  static Poller* Self(const Napi::CallbackInfo& info, const char* what) {
    Napi::Env env = info.Env();
    napi_value self = info.This();
    bool tagged = false;
    if (info.This().IsObject()) napi_check_object_type_tag(env, self, &kPollerTag, &tagged);
    Poller* p = tagged ? Poller::Unwrap(info.This().As<Napi::Object>()) : nullptr;
    if (p == nullptr) ThrowType(env, std::string("Poller.") + what + ": receiver is not a Poller");
    return p;
  }

  static Napi::Value Ref(const Napi::CallbackInfo& info) {
    Poller* p = Self(info, "ref");
    if (p->state_ && !p->state_->closing) uv_ref(reinterpret_cast<uv_handle_t*>(&p->state_->handle));
    return info.Env().Undefined();
  }
  static Napi::Value Unref(const Napi::CallbackInfo& info) {
    Poller* p = Self(info, "unref");
    if (p->state_ && !p->state_->closing) uv_unref(reinterpret_cast<uv_handle_t*>(&p->state_->handle));
    return info.Env().Undefined();
  }
  static Napi::Value Close(const Napi::CallbackInfo& info) {
    Poller* p = Self(info, "close");
    if (p->state_ == nullptr || p->state_->closing) return info.Env().Undefined();
    Shutdown(p->state_, false);
    p->Napi::ObjectWrap<Poller>::Unref();
    return info.Env().Undefined();
  }
  static Napi::Value Closed(const Napi::CallbackInfo& info) {
    Poller* p = Self(info, "closed");
    return Napi::Boolean::New(info.Env(), p->state_ == nullptr || p->state_->closing);
  }

  PollState* state_ = nullptr;
};

}  // namespace

void InitEventfd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfd", Napi::Function::New(env, EventfdCreate, "eventfd"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
  exports.Set("Poller", Poller::Define(env));
}

}  // namespace vfio
