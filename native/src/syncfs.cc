// syncfs(2) on the libuv thread pool, for the filesystem holding `path`.
//
//   syncfs(path): Promise<void>
//
// What containerd does after unpacking a layer when asked to (sync_fs): the
// layer's files reach the disk before the snapshot is committed, without
// waiting for every other filesystem as sync(2) would.
#include "syncfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "args.h"
#include "errors.h"
#include "syscall_worker.h"
#include "queue_worker.h"

namespace flotilla {
namespace {

class SyncfsWorker : public SyscallWorker {
 public:
  SyncfsWorker(Napi::Env env, std::string path)
      : SyscallWorker(env, "flotilla.syncfs"), path_(std::move(path)) {}

 protected:
  int Call() override {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      syscall_ = "open";
      return errno;
    }
    int err = ::syncfs(fd) != 0 ? errno : 0;
    ::close(fd);
    return err;
  }
  Napi::Error MakeError(Napi::Env env, int err) override {
    return SystemError(env, err, syscall_, path_);
  }

 private:
  std::string path_;
  const char* syscall_ = "syncfs";
};

Napi::Value Syncfs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto* worker = new SyncfsWorker(env, RequiredString(info, 0, "path"));
    return worker;
  });
}

}  // namespace

void InitSyncfs(Napi::Env env, Napi::Object exports) {
  exports.Set("syncfs", Napi::Function::New(env, Syncfs, "syncfs"));
}

}  // namespace flotilla
