// mknod(2) for device nodes and FIFOs (overlay whiteouts are 0/0 character
// devices), makedev(3), and the S_IF* file-type constants.
#ifndef FLOTILLA_NATIVE_MKNOD_H_
#define FLOTILLA_NATIVE_MKNOD_H_

#include <napi.h>

namespace flotilla {

// Adds mknod, makedev, S_IFCHR, S_IFBLK and S_IFIFO to `exports`.
void InitMknod(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_MKNOD_H_
