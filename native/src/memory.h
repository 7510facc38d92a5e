// Giving memory back to the kernel after a busy period.
#ifndef FLOTILLA_NATIVE_MEMORY_H_
#define FLOTILLA_NATIVE_MEMORY_H_

#include <napi.h>

namespace flotilla {

// Adds reclaimMemory to `exports`.
void InitMemory(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_MEMORY_H_
