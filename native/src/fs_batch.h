// Small filesystem calls batched into one thread-pool job (see fs_batch.cc).
#ifndef FLOTILLA_NATIVE_FS_BATCH_H_
#define FLOTILLA_NATIVE_FS_BATCH_H_

#include <napi.h>

namespace flotilla {

// Adds fsBatch to `exports`.
void InitFsBatch(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_FS_BATCH_H_
