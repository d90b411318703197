// Generated from src/backend/allowlist.ts by native/gen-allowlist.ts. Do not edit:
// change the TypeScript table and run `npm run gen:allowlist`.
#pragma once

#include "allowlist.h"

namespace vfio {

inline constexpr Request kRequests[] = {
    {FdKind::kContainer, 0x3b64ul, "VFIO_GET_API_VERSION", Arg::kNone, 0, kAnyFlags, 0, 0},
    {FdKind::kContainer, 0x3b65ul, "VFIO_CHECK_EXTENSION", Arg::kValue, 0, kAnyFlags, 0, 0},
    {FdKind::kContainer, 0x3b66ul, "VFIO_SET_IOMMU", Arg::kValue, 0, kAnyFlags, 0, 0},
    {FdKind::kContainer, 0x3b70ul, "VFIO_IOMMU_GET_INFO", Arg::kArgsz, 16, kAnyFlags, 0, 0},
    {FdKind::kGroup, 0x3b67ul, "VFIO_GROUP_GET_STATUS", Arg::kArgsz, 8, kAnyFlags, 0, 0},
    {FdKind::kGroup, 0x3b68ul, "VFIO_GROUP_SET_CONTAINER", Arg::kIntPtr, 0, kAnyFlags, 0, 0},
    {FdKind::kGroup, 0x3b69ul, "VFIO_GROUP_UNSET_CONTAINER", Arg::kNone, 0, kAnyFlags, 0, 0},
    {FdKind::kDevice, 0x3b6bul, "VFIO_DEVICE_GET_INFO", Arg::kArgsz, 16, kAnyFlags, 0, 0},
    {FdKind::kDevice, 0x3b6cul, "VFIO_DEVICE_GET_REGION_INFO", Arg::kArgsz, 32, kAnyFlags, 0, 0},
    {FdKind::kDevice, 0x3b6dul, "VFIO_DEVICE_GET_IRQ_INFO", Arg::kArgsz, 16, kAnyFlags, 0, 0},
    {FdKind::kDevice, 0x3b6eul, "VFIO_DEVICE_SET_IRQS", Arg::kArgsz, 20, kAnyFlags, 0, 0},
    {FdKind::kDevice, 0x3b6ful, "VFIO_DEVICE_RESET", Arg::kNone, 0, kAnyFlags, 0, 0},
    {FdKind::kDevice, 0x3b70ul, "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", Arg::kArgsz, 12, kAnyFlags, 0, 0},
    {FdKind::kDevice, 0x3b71ul, "VFIO_DEVICE_PCI_HOT_RESET", Arg::kArgsz, 12, kAnyFlags, 8, 4},
    {FdKind::kDevice, 0x3b75ul, "VFIO_DEVICE_FEATURE", Arg::kArgsz, 8, 0x70000, 0, 0},
    {FdKind::kDevice, 0x3b77ul, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", Arg::kArgsz, 12, 0x0, 0, 0},
    {FdKind::kDevice, 0x3b78ul, "VFIO_DEVICE_DETACH_IOMMUFD_PT", Arg::kArgsz, 8, 0x0, 0, 0},
    {FdKind::kIommufd, 0x3b81ul, "IOMMU_IOAS_ALLOC", Arg::kArgsz, 12, 0x0, 0, 0},
    {FdKind::kIommufd, 0x3b80ul, "IOMMU_DESTROY", Arg::kArgsz, 8, kAnyFlags, 0, 0},
};

// VFIO_DEVICE_BIND_IOMMUFD, which bind.cc builds itself; its argsz is kBindMinsz without a
// token (the struct before 6.17) and kBindSize with one.
inline constexpr unsigned long kBindIommufd = 0x3b76ul;
inline constexpr uint32_t kBindFlagToken = 0x1;
inline constexpr uint32_t kBindMinsz = 16;
inline constexpr uint32_t kBindSize = 24;

}  // namespace vfio
