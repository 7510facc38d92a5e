// Unpacking a layer in batches: many small filesystem operations (create a
// file with its content, owner, xattrs, mode and times; make a directory, a
// symlink, a hardlink, a device; remove a tree) run as one thread-pool job,
// confined beneath a root directory by the kernel (openat2).
#ifndef FLOTILLA_NATIVE_EXTRACT_H_
#define FLOTILLA_NATIVE_EXTRACT_H_

#include <napi.h>

namespace flotilla {

// Adds extractor, extractBatch and closeExtractor to `exports`.
void InitExtract(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_EXTRACT_H_
