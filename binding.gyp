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
        "native/bind.cc",
        "native/memory.cc",
        "native/dmamap.cc",
        "native/eventfd.cc",
        "native/handle.cc",
        "native/errno.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED",
                  "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux'", {"type": "none"}],
        # The prebuilt addon must load on glibc 2.28 and with a libstdc++ older than the
        # builder's: link the C++ runtime in (its symbols kept private, so they cannot clash
        # with another addon's), with glibc-compat.cc for what it needs of a newer glibc.
        # native/check-symbols.mjs checks the result. Without libstdc++.a (Fedora, RHEL) a
        # source build links it dynamically, which suits a binary built where it runs.
        ["OS=='linux' and '<!(node native/static-cxx.mjs)'=='1'", {
          "sources": ["native/glibc-compat.cc"],
          "defines": ["VFIO_STATIC_CXX"],
          "ldflags": ["-static-libstdc++", "-Wl,--exclude-libs,ALL"]
        }]
      ]
    }
  ]
}
