// mount(2) and umount2(2), run on the libuv thread pool, returning Promises.
//
//   mount(source, target, fstype?, flags?, data?): Promise<void>
//   umount2(target, flags?): Promise<void>
//
// source, fstype and data may be null/undefined (passed as NULL). Strings are
// passed whole: data is never truncated here (the kernel's legacy mount(2)
// reads at most one page of it; mountOverlay in fsmount.cc avoids that limit).
#include "mount.h"

#include <sys/mount.h>

#include <cerrno>
#include <climits>
#include <optional>
#include <string>
#include <utility>

#include "args.h"
#include "errors.h"
#include "syscall_worker.h"
#include "queue_worker.h"

namespace flotilla {
namespace {

const char* CStr(const std::optional<std::string>& s) {
  return s ? s->c_str() : nullptr;
}

class MountWorker : public SyscallWorker {
 public:
  MountWorker(Napi::Env env, std::optional<std::string> source,
              std::string target, std::optional<std::string> fstype,
              unsigned long flags, std::optional<std::string> data)
      : SyscallWorker(env, "flotilla.mount"),
        source_(std::move(source)),
        target_(std::move(target)),
        fstype_(std::move(fstype)),
        flags_(flags),
        data_(std::move(data)) {}

 protected:
  int Call() override {
    if (::mount(CStr(source_), target_.c_str(), CStr(fstype_), flags_,
                CStr(data_)) != 0) {
      return errno;
    }
    return 0;
  }

  Napi::Error MakeError(Napi::Env env, int err) override {
    return SystemError(env, err, "mount", target_, source_);
  }

 private:
  std::optional<std::string> source_;
  std::string target_;
  std::optional<std::string> fstype_;
  unsigned long flags_;
  std::optional<std::string> data_;
};

class Umount2Worker : public SyscallWorker {
 public:
  Umount2Worker(Napi::Env env, std::string target, int flags)
      : SyscallWorker(env, "flotilla.umount2"),
        target_(std::move(target)),
        flags_(flags) {}

 protected:
  int Call() override {
    return ::umount2(target_.c_str(), flags_) != 0 ? errno : 0;
  }

  Napi::Error MakeError(Napi::Env env, int err) override {
    return SystemError(env, err, "umount2", target_);
  }

 private:
  std::string target_;
  int flags_;
};

// Promise-returning functions report bad arguments as rejections too.
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto source = OptionalString(info, 0, "source");
    auto target = RequiredString(info, 1, "target");
    auto fstype = OptionalString(info, 2, "fstype");
    // Doubles are exact up to 2^53; every MS_* flag fits well below that.
    auto flags = static_cast<unsigned long>(Flags(info, 3, 9007199254740991.0));
    auto data = OptionalString(info, 4, "data");
    auto* worker = new MountWorker(env, std::move(source), std::move(target),
                                   std::move(fstype), flags, std::move(data));
    return worker;
  });
}

Napi::Value Umount2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto target = RequiredString(info, 0, "target");
    auto flags = static_cast<int>(Flags(info, 1, INT_MAX));
    auto* worker = new Umount2Worker(env, std::move(target), flags);
    return worker;
  });
}

#define FLOTILLA_CONST(obj, name) \
  obj.Set(#name, Napi::Number::New(env, static_cast<double>(name)))

Napi::Object MsConstants(Napi::Env env) {
  Napi::Object ms = Napi::Object::New(env);
  FLOTILLA_CONST(ms, MS_RDONLY);
  FLOTILLA_CONST(ms, MS_NOSUID);
  FLOTILLA_CONST(ms, MS_NODEV);
  FLOTILLA_CONST(ms, MS_NOEXEC);
  FLOTILLA_CONST(ms, MS_REMOUNT);
  FLOTILLA_CONST(ms, MS_BIND);
  FLOTILLA_CONST(ms, MS_REC);
  FLOTILLA_CONST(ms, MS_PRIVATE);
  FLOTILLA_CONST(ms, MS_SLAVE);
  FLOTILLA_CONST(ms, MS_SHARED);
  FLOTILLA_CONST(ms, MS_UNBINDABLE);
  FLOTILLA_CONST(ms, MS_NOATIME);
  FLOTILLA_CONST(ms, MS_NODIRATIME);
  FLOTILLA_CONST(ms, MS_RELATIME);
  FLOTILLA_CONST(ms, MS_STRICTATIME);
  ms.Freeze();
  return ms;
}

Napi::Object MntConstants(Napi::Env env) {
  Napi::Object mnt = Napi::Object::New(env);
  FLOTILLA_CONST(mnt, MNT_FORCE);
  FLOTILLA_CONST(mnt, MNT_DETACH);
  FLOTILLA_CONST(mnt, MNT_EXPIRE);
  FLOTILLA_CONST(mnt, UMOUNT_NOFOLLOW);
  mnt.Freeze();
  return mnt;
}

#undef FLOTILLA_CONST

}  // namespace

void InitMount(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount, "mount"));
  exports.Set("umount2", Napi::Function::New(env, Umount2, "umount2"));
  exports.Set("MS", MsConstants(env));
  exports.Set("MNT", MntConstants(env));
}

}  // namespace flotilla
