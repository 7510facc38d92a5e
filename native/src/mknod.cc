// mknod(2) on the libuv thread pool, makedev(3) synchronously, and the file
// type bits from <sys/stat.h>.
//
//   mknod(path, mode, dev): Promise<void>
//   makedev(major, minor): number
//   S_IFCHR, S_IFBLK, S_IFIFO: number
//
// An overlay whiteout is mknod(path, S_IFCHR | 0, makedev(0, 0)).
//
// dev_t is 64-bit in glibc but a JS number is exact only to 2^53 - 1; every
// device number Linux can represent (12-bit major, 20-bit minor) encodes well
// below that, and makedev() throws a RangeError rather than round.
#include "mknod.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "args.h"
#include "errors.h"
#include "syscall_worker.h"
#include "queue_worker.h"

namespace flotilla {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

class MknodWorker : public SyscallWorker {
 public:
  MknodWorker(Napi::Env env, std::string path, mode_t mode, dev_t dev)
      : SyscallWorker(env, "flotilla.mknod"),
        path_(std::move(path)),
        mode_(mode),
        dev_(dev) {}

 protected:
  int Call() override {
    return ::mknod(path_.c_str(), mode_, dev_) != 0 ? errno : 0;
  }
  Napi::Error MakeError(Napi::Env env, int err) override {
    return SystemError(env, err, "mknod", path_);
  }

 private:
  std::string path_;
  mode_t mode_;
  dev_t dev_;
};

Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto path = RequiredString(info, 0, "path");
    auto mode = static_cast<mode_t>(Integer(env, info[1], "mode", UINT32_MAX));
    auto dev = static_cast<dev_t>(Integer(env, info[2], "dev", kMaxSafeInteger));
    auto* worker = new MknodWorker(env, std::move(path), mode, dev);
    return worker;
  });
}

Napi::Value Makedev(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto major = static_cast<unsigned int>(
      Integer(env, info[0], "major", UINT32_MAX));
  auto minor = static_cast<unsigned int>(
      Integer(env, info[1], "minor", UINT32_MAX));
  dev_t dev = ::makedev(major, minor);
  if (static_cast<double>(dev) > kMaxSafeInteger) {
    Napi::Error error = Napi::RangeError::New(
        env, "makedev(" + std::to_string(major) + ", " +
                 std::to_string(minor) +
                 ") does not fit in a JavaScript number.");
    error.Value().Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
    throw error;
  }
  return Napi::Number::New(env, static_cast<double>(dev));
}

}  // namespace

void InitMknod(Napi::Env env, Napi::Object exports) {
  exports.Set("mknod", Napi::Function::New(env, Mknod, "mknod"));
  exports.Set("makedev", Napi::Function::New(env, Makedev, "makedev"));
  exports.Set("S_IFCHR", Napi::Number::New(env, S_IFCHR));
  exports.Set("S_IFBLK", Napi::Number::New(env, S_IFBLK));
  exports.Set("S_IFIFO", Napi::Number::New(env, S_IFIFO));
}

}  // namespace flotilla
