// Overlay mounts through the new mount API (fsopen, fsconfig, fsmount,
// move_mount), which has no one-page limit on the options.
#ifndef FLOTILLA_NATIVE_FSMOUNT_H_
#define FLOTILLA_NATIVE_FSMOUNT_H_

#include <napi.h>

namespace flotilla {

// Adds mountOverlay to `exports`.
void InitFsmount(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_FSMOUNT_H_
