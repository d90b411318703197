// The shape of an allow-list entry. The entries themselves are generated from
// src/backend/allowlist.ts into allowlist.gen.h, so the shim and the fake kernel
// enforce one table.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shim.h"

namespace vfio {

// How a request's argument reaches the kernel; it decides which checks the shim makes.
enum class Arg {
  kNone,     // no argument
  kValue,    // an integer passed by value
  kIntPtr,   // a pointer to one int (an fd, given as a number or a handle)
  kArgsz,    // a struct starting with u32 argsz, u32 flags
};

struct Request {
  FdKind kind;  // the fd kind the number means this request for
  unsigned long number;
  const char* name;
  Arg arg;
  size_t minsz;            // kArgsz: the kernel's fixed part
  uint32_t flags_allowed;  // kArgsz: flags bits JS may set (others carry pointers or are unknown)
  size_t count_at;         // kArgsz: offset of a u32 count of elements after minsz the kernel reads
                           // without checking argsz; 0 when there are none
  size_t elem_size;        // kArgsz: size of each counted element
};

constexpr uint32_t kAnyFlags = 0xffffffffu;

}  // namespace vfio
