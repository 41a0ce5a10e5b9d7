{
  "targets": [
    {
      "target_name": "plughost_redis_sync",
      "sources": ["src/redis_sync.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "cflags_cc": ["-Wall", "-Wextra", "-O2", "-std=c++17", "-fno-exceptions"],
      "libraries": ["-lhiredis"]
    }
  ]
}
