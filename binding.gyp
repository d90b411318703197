{
  # The native shim. native/CMakeLists.txt builds the same sources for tooling and
  # sanitizers; CI builds both so the two definitions cannot drift.
  "targets": [
    {
      "target_name": "vfio",
      "sources": [
        "native/shim.cc",
        "native/file.cc",
        "native/ioctl.cc",
        "native/memory.cc",
        "native/dmamap.cc",
        "native/eventfd.cc",
        "native/fdkind.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
