// Module init only: each concern registers its own exports.
#include <napi.h>

#include "fsmount.h"
#include "mknod.h"
#include "mount.h"
#include "xattr.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  flotilla::InitMount(env, exports);
  flotilla::InitFsmount(env, exports);
  flotilla::InitMknod(env, exports);
  flotilla::InitXattr(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(flotilla_native, Init)
