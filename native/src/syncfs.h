// syncfs(2): flush one filesystem, not every filesystem as sync(2) does.
#ifndef FLOTILLA_NATIVE_SYNCFS_H_
#define FLOTILLA_NATIVE_SYNCFS_H_

#include <napi.h>

namespace flotilla {

// Adds syncfs to `exports`.
void InitSyncfs(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_SYNCFS_H_
