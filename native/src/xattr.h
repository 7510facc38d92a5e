// Extended attributes without following symlinks: lsetxattr, lgetxattr,
// llistxattr, lremovexattr, plus the XATTR_* setxattr flags.
#ifndef FLOTILLA_NATIVE_XATTR_H_
#define FLOTILLA_NATIVE_XATTR_H_

#include <napi.h>

namespace flotilla {

// Adds lsetxattr, lgetxattr, llistxattr, lremovexattr and XATTR to `exports`.
void InitXattr(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_XATTR_H_
