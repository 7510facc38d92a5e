// Scheduling of the calling thread: speculative background work that should
// only use CPU nobody else wants.
#ifndef FLOTILLA_NATIVE_THREAD_PRIORITY_H_
#define FLOTILLA_NATIVE_THREAD_PRIORITY_H_

#include <napi.h>

namespace flotilla {

// Adds setThreadIdle to `exports`.
void InitThreadPriority(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_THREAD_PRIORITY_H_
