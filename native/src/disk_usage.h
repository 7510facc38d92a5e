// The disk a directory tree takes (continuity's fs.DiskUsage, which
// containerd's snapshotters use).
#ifndef FLOTILLA_NATIVE_DISK_USAGE_H_
#define FLOTILLA_NATIVE_DISK_USAGE_H_

#include <napi.h>

namespace flotilla {

// Adds diskUsage to `exports`.
void InitDiskUsage(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_DISK_USAGE_H_
