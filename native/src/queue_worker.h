// Queuing a Promise-returning worker from a JS-facing function.
#ifndef FLOTILLA_NATIVE_QUEUE_WORKER_H_
#define FLOTILLA_NATIVE_QUEUE_WORKER_H_

#include <napi.h>

#include "args.h"

namespace flotilla {

// The body of every Promise-returning export: `make` parses the arguments and
// returns a new worker, any AsyncWorker with a Promise() (throwing a
// Napi::Error for a bad argument or state); the worker is queued and its
// promise returned. A throw becomes a rejected promise, so a caller has one
// failure path whatever went wrong.
template <typename Make>
Napi::Value QueueWorker(Napi::Env env, Make&& make) {
  try {
    auto* worker = make();
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const Napi::Error& e) {
    return Rejected(env, e);
  }
}

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_QUEUE_WORKER_H_
