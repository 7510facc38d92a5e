// Module init only: each concern registers its own exports.
#include <napi.h>

#include "disk_usage.h"
#include "extract.h"
#include "fs_batch.h"
#include "fsmount.h"
#include "memory.h"
#include "mknod.h"
#include "mount.h"
#include "sha256_stream.h"
#include "socket_buffer.h"
#include "spawn_command.h"
#include "syncfs.h"
#include "thread_priority.h"
#include "xattr.h"
#include "zstd_stream.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  flotilla::InitMount(env, exports);
  flotilla::InitFsmount(env, exports);
  flotilla::InitMknod(env, exports);
  flotilla::InitXattr(env, exports);
  flotilla::InitExtract(env, exports);
  flotilla::InitSyncfs(env, exports);
  flotilla::InitDiskUsage(env, exports);
  flotilla::InitFsBatch(env, exports);
  flotilla::InitThreadPriority(env, exports);
  flotilla::InitZstd(env, exports);
  flotilla::InitSpawn(env, exports);
  flotilla::InitSocketBuffer(env, exports);
  flotilla::InitSha256(env, exports);
  flotilla::InitMemory(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(flotilla_native, Init)
