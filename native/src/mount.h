// mount(2) and umount2(2), plus the MS_* and MNT_* constants.
#ifndef FLOTILLA_NATIVE_MOUNT_H_
#define FLOTILLA_NATIVE_MOUNT_H_

#include <napi.h>

namespace flotilla {

// Adds mount, umount2, MS and MNT to `exports`.
void InitMount(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_MOUNT_H_
