// Runs one blocking syscall on the libuv thread pool and settles a Promise.
//
// Each concern subclasses SyscallWorker: Call() runs off the main thread and
// returns 0 or an errno value; MakeError() builds the Node-style error on the
// main thread; Result() (default: undefined) builds the resolved value from
// what Call() stored. The JS-facing function hands QueueWorker
// (queue_worker.h) a lambda that parses its arguments and builds the worker.
#ifndef FLOTILLA_NATIVE_SYSCALL_WORKER_H_
#define FLOTILLA_NATIVE_SYSCALL_WORKER_H_

#include <napi.h>

namespace flotilla {

class SyscallWorker : public Napi::AsyncWorker {
 public:
  SyscallWorker(Napi::Env env, const char* resource_name)
      : Napi::AsyncWorker(env, resource_name),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // Off the main thread: no Napi calls. Returns 0 or an errno value.
  virtual int Call() = 0;
  // On the main thread, after Call() returned `err` != 0.
  virtual Napi::Error MakeError(Napi::Env env, int err) = 0;
  // On the main thread, after Call() returned 0: the value to resolve with.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

 private:
  void Execute() override { err_ = Call(); }

  void OnOK() override {
    if (err_ == 0) {
      deferred_.Resolve(Result(Env()));
    } else {
      deferred_.Reject(MakeError(Env(), err_).Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

  Napi::Promise::Deferred deferred_;
  int err_ = 0;
};

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_SYSCALL_WORKER_H_
