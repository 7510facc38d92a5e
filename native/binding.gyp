{
  "targets": [
    {
      "target_name": "flotilla_native",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/disk_usage.cc",
        "src/errors.cc",
        "src/extract.cc",
        "src/fs_batch.cc",
        "src/fsmount.cc",
        "src/memory.cc",
        "src/mknod.cc",
        "src/mount.cc",
        "src/sha256_stream.cc",
        "src/socket_buffer.cc",
        "src/spawn_command.cc",
        "src/syncfs.cc",
        "src/thread_priority.cc",
        "src/xattr.cc",
        "src/zstd_stream.cc"
      ],
      "libraries": ["-lzstd"],
      "include_dirs": ["src"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"]
    }
  ]
}
