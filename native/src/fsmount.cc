// mountOverlay through the new mount API, run on the libuv thread pool.
//
//   mountOverlay(target, { lowerdirs, upperdir?, workdir?, options?,
//                          readonly? }): Promise<void>
//
// The steps, as containerd's overlay snapshotter would do them by hand:
//   fd = fsopen("overlay", FSOPEN_CLOEXEC)
//   fsconfig(fd, FSCONFIG_SET_STRING, "source", "overlay")
//   fsconfig(fd, FSCONFIG_SET_STRING | FSCONFIG_SET_FLAG, option) per option
//   fsconfig(fd, FSCONFIG_SET_STRING, "lowerdir+", dir) per lower layer,
//       top-most first
//   fsconfig(fd, FSCONFIG_SET_STRING, "upperdir"/"workdir", dir)
//   fsconfig(fd, FSCONFIG_CMD_CREATE)
//   mfd = fsmount(fd, FSMOUNT_CLOEXEC, readonly ? MOUNT_ATTR_RDONLY : 0)
//   move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)
//
// One "lowerdir+" call per layer (Linux 6.8+) means there is no limit on the
// number of layers from the size of a single option string: mount(2) reads at
// most one page of data, which runs out at a few dozen layers. fsconfig
// copies each string value with a 256-byte cap, so each single path must be
// shorter than that.
//
// The syscalls are made through syscall(2) with the SYS_* numbers from
// <sys/syscall.h>, not glibc's wrappers (new in 2.36), so only the constants
// come from the C library headers.
#include "fsmount.h"

#include <fcntl.h>
#include <sys/mount.h>  // FSOPEN_*, FSCONFIG_*, FSMOUNT_*, MOUNT_ATTR_*, MOVE_MOUNT_*
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "errors.h"
#include "syscall_worker.h"
#include "queue_worker.h"

namespace flotilla {
namespace {

// Closes the fd it holds on every path out of Call().
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

int FsOpen(const char* fstype) {
  return static_cast<int>(::syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC));
}

int FsConfig(int fd, unsigned int cmd, const char* key, const char* value) {
  return static_cast<int>(::syscall(SYS_fsconfig, fd, cmd, key, value, 0));
}

int FsMount(int fd, unsigned int attrs) {
  return static_cast<int>(::syscall(SYS_fsmount, fd, FSMOUNT_CLOEXEC, attrs));
}

int MoveMount(int from_fd, const char* to_path) {
  return static_cast<int>(::syscall(SYS_move_mount, from_fd, "", AT_FDCWD,
                                    to_path, MOVE_MOUNT_F_EMPTY_PATH));
}

// lowerdir's own syntax separates layers with ':'; a ':' or '\' inside a path
// is escaped with '\'. Only the fallback below needs it: "lowerdir+" takes
// one path as is.
std::string JoinLowerdirs(const std::vector<std::string>& dirs) {
  std::string joined;
  for (const auto& dir : dirs) {
    if (!joined.empty()) joined += ':';
    for (char c : dir) {
      if (c == ':' || c == '\\') joined += '\\';
      joined += c;
    }
  }
  return joined;
}

struct OverlayOptions {
  std::vector<std::string> lowerdirs;
  std::optional<std::string> upperdir;
  std::optional<std::string> workdir;
  std::vector<std::string> options;
  bool readonly = false;
};

class MountOverlayWorker : public SyscallWorker {
 public:
  MountOverlayWorker(Napi::Env env, std::string target, OverlayOptions opts)
      : SyscallWorker(env, "flotilla.mountOverlay"),
        target_(std::move(target)),
        opts_(std::move(opts)) {}

 protected:
  int Call() override {
    step_ = "fsopen";
    Fd fs(FsOpen("overlay"));
    if (fs.get() < 0) return errno;

    step_ = "fsconfig";
    if (int err = SetString(fs.get(), "source", "overlay")) return err;
    for (const auto& option : opts_.options) {
      size_t eq = option.find('=');
      if (eq == std::string::npos) {
        // A bare option ("userxattr", "volatile") is a flag parameter.
        setting_ = option;
        if (FsConfig(fs.get(), FSCONFIG_SET_FLAG, option.c_str(), nullptr) != 0) {
          return Fail(fs.get());
        }
      } else {
        std::string key = option.substr(0, eq);
        if (int err = SetString(fs.get(), key.c_str(), option.c_str() + eq + 1)) {
          return err;
        }
      }
    }
    for (size_t i = 0; i < opts_.lowerdirs.size(); ++i) {
      const std::string& dir = opts_.lowerdirs[i];
      setting_ = "lowerdir+=" + dir;
      if (FsConfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", dir.c_str()) == 0) {
        continue;
      }
      if (i == 0 && errno == EINVAL) {
        // Kernels before 6.8 do not know "lowerdir+" and refuse it with
        // EINVAL ("Unknown parameter"). Fall back to the classic single
        // "lowerdir" value, all layers joined with ':'. That string is
        // capped at 256 bytes by fsconfig, so on such kernels only a few
        // layers fit; 6.8+ never takes this path.
        DrainLog(fs.get());  // the "unknown parameter" message is expected
        if (int err = SetString(fs.get(), "lowerdir",
                                JoinLowerdirs(opts_.lowerdirs).c_str())) {
          return err;
        }
        break;
      }
      return Fail(fs.get());
    }
    if (opts_.upperdir) {
      if (int err = SetString(fs.get(), "upperdir", opts_.upperdir->c_str())) return err;
    }
    if (opts_.workdir) {
      if (int err = SetString(fs.get(), "workdir", opts_.workdir->c_str())) return err;
    }
    setting_ = "FSCONFIG_CMD_CREATE";
    if (FsConfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr) != 0) {
      return Fail(fs.get());
    }
    setting_.clear();

    step_ = "fsmount";
    Fd mnt(FsMount(fs.get(), opts_.readonly ? MOUNT_ATTR_RDONLY : 0));
    if (mnt.get() < 0) return Fail(fs.get());

    step_ = "move_mount";
    if (MoveMount(mnt.get(), target_.c_str()) != 0) return errno;
    return 0;
  }

  Napi::Error MakeError(Napi::Env env, int err) override {
    std::optional<std::string> from;
    if (!setting_.empty()) from = setting_;
    Napi::Error error = SystemError(env, err, step_, target_, from);
    if (!log_.empty()) {
      std::string message = error.Message() + " (";
      for (size_t i = 0; i < log_.size(); ++i) {
        if (i) message += "; ";
        message += log_[i];
      }
      message += ")";
      error.Value().Set("message", Napi::String::New(env, message));
    }
    return error;
  }

 private:
  int SetString(int fd, const char* key, const char* value) {
    setting_ = std::string(key) + "=" + value;
    if (FsConfig(fd, FSCONFIG_SET_STRING, key, value) != 0) return Fail(fd);
    return 0;
  }

  // Keeps errno, and collects what the filesystem logged on the fs context
  // (e.g. "overlay: failed to resolve '/x': -2") for the error message.
  int Fail(int fd) {
    int err = errno;
    ReadLog(fd);
    return err;
  }

  void ReadLog(int fd) {
    char buf[1024];
    for (int i = 0; i < 16; ++i) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      std::string line(buf, static_cast<size_t>(n));
      // Each message is prefixed "e ", "w " or "i " (error/warning/info).
      if (line.size() > 2 && line[1] == ' ') line.erase(0, 2);
      while (!line.empty() && (line.back() == '\n' || line.back() == '\0')) {
        line.pop_back();
      }
      log_.push_back(std::move(line));
    }
  }

  void DrainLog(int fd) {
    ReadLog(fd);
    log_.clear();
  }

  std::string target_;
  OverlayOptions opts_;
  const char* step_ = "fsopen";
  std::string setting_;  // the fsconfig key(=value) being set, if any
  std::vector<std::string> log_;
};

std::vector<std::string> StringArray(Napi::Env env, const Napi::Value& v,
                                     const char* name) {
  if (!v.IsArray()) {
    throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                   std::string("The \"") + name +
                       "\" option must be an array of strings.");
  }
  auto array = v.As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) {
      throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                     std::string("The \"") + name +
                         "\" option must be an array of strings.");
    }
    std::string s = CheckedString(env, item, name);
    if (s.empty()) {
      throw ArgError(env, "ERR_INVALID_ARG_VALUE",
                     std::string("The \"") + name +
                         "\" option must not contain empty strings.");
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<std::string> OptionalDir(Napi::Env env, const Napi::Object& obj,
                                       const char* name) {
  Napi::Value v = obj.Get(name);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsString()) {
    throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                   std::string("The \"") + name +
                       "\" option must be of type string.");
  }
  return CheckedString(env, v, name);
}

OverlayOptions ParseOptions(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject() || v.IsArray()) {
    throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                   "The \"options\" argument must be of type object.");
  }
  auto obj = v.As<Napi::Object>();
  OverlayOptions opts;
  opts.lowerdirs = StringArray(env, obj.Get("lowerdirs"), "lowerdirs");
  if (opts.lowerdirs.empty()) {
    throw ArgError(env, "ERR_INVALID_ARG_VALUE",
                   "The \"lowerdirs\" option must name at least one layer.");
  }
  opts.upperdir = OptionalDir(env, obj, "upperdir");
  opts.workdir = OptionalDir(env, obj, "workdir");
  if (opts.upperdir.has_value() != opts.workdir.has_value()) {
    throw ArgError(env, "ERR_INVALID_ARG_VALUE",
                   "The \"upperdir\" and \"workdir\" options go together.");
  }
  Napi::Value options = obj.Get("options");
  if (!options.IsUndefined()) {
    opts.options = StringArray(env, options, "options");
  }
  Napi::Value readonly = obj.Get("readonly");
  if (!readonly.IsUndefined()) {
    if (!readonly.IsBoolean()) {
      throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                     "The \"readonly\" option must be of type boolean.");
    }
    opts.readonly = readonly.As<Napi::Boolean>().Value();
  }
  return opts;
}

Napi::Value MountOverlay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto target = RequiredString(info, 0, "target");
    auto opts = ParseOptions(env, info[1]);
    auto* worker = new MountOverlayWorker(env, std::move(target), std::move(opts));
    return worker;
  });
}

}  // namespace

void InitFsmount(Napi::Env env, Napi::Object exports) {
  exports.Set("mountOverlay",
              Napi::Function::New(env, MountOverlay, "mountOverlay"));
}

}  // namespace flotilla
