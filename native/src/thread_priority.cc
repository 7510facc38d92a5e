// setThreadIdle(): the calling thread (a worker_thread's, never a process's
// main thread) runs under SCHED_IDLE from then on.
//
//   setThreadIdle(): void
//
// Why: some work is worth doing only if the CPU would otherwise sit idle, such
// as inflating a layer before anyone asked for it (the differ's prefetcher).
// Under SCHED_IDLE the kernel runs the thread only when nothing else wants the
// CPU, so a pull that is still fetching, or another process's work, never waits
// for it. The policy is per thread on Linux (sched_setscheduler with pid 0
// names the calling thread), so the process's other threads are untouched.
// Lowering one's own priority needs no privilege.
#include "thread_priority.h"

#include <sched.h>

#include <cerrno>

#include "errors.h"

namespace flotilla {
namespace {

Napi::Value SetThreadIdle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct sched_param param = {};
  param.sched_priority = 0;
  if (::sched_setscheduler(0, SCHED_IDLE, &param) != 0) {
    throw SystemError(env, errno, "sched_setscheduler", std::nullopt);
  }
  return env.Undefined();
}

}  // namespace

void InitThreadPriority(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadIdle", Napi::Function::New(env, SetThreadIdle, "setThreadIdle"));
}

}  // namespace flotilla
