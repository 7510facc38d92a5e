// Module init only: each concern registers its own exports.
#include <napi.h>

#include "mount.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  flotilla::InitMount(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(flotilla_native, Init)
