// Extended attributes, l-variants (a symlink's own attributes, never its
// target's), run on the libuv thread pool, returning Promises.
//
//   lsetxattr(path, name, value: Buffer, flags?): Promise<void>
//   lgetxattr(path, name): Promise<Buffer>
//   llistxattr(path): Promise<string[]>
//   lremovexattr(path, name): Promise<void>
//
// The getters ask the kernel for the size first, then read into a buffer of
// that size; if the attribute grew in between (ERANGE) they ask again.
#include "xattr.h"

#include <sys/xattr.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "errors.h"
#include "syscall_worker.h"
#include "queue_worker.h"

namespace flotilla {
namespace {

// How often a getter re-sizes before giving up with ERANGE: only a value
// that keeps growing under concurrent writers gets this far.
constexpr int kMaxSizeRetries = 16;

// Size-query-then-read loop shared by lgetxattr and llistxattr. `call(buf,
// size)` is the syscall; with size 0 it returns the needed size.
template <typename F>
int ReadSized(F call, std::vector<char>* out) {
  for (int attempt = 0; attempt < kMaxSizeRetries; ++attempt) {
    ssize_t size = call(nullptr, 0);
    if (size < 0) return errno;
    out->resize(static_cast<size_t>(size));
    if (size == 0) return 0;
    ssize_t got = call(out->data(), out->size());
    if (got >= 0) {
      out->resize(static_cast<size_t>(got));
      return 0;
    }
    if (errno != ERANGE) return errno;
  }
  return ERANGE;
}

class SetWorker : public SyscallWorker {
 public:
  SetWorker(Napi::Env env, std::string path, std::string name,
            std::vector<char> value, int flags)
      : SyscallWorker(env, "flotilla.lsetxattr"),
        path_(std::move(path)),
        name_(std::move(name)),
        value_(std::move(value)),
        flags_(flags) {}

 protected:
  int Call() override {
    return ::lsetxattr(path_.c_str(), name_.c_str(), value_.data(),
                       value_.size(), flags_) != 0
               ? errno
               : 0;
  }
  Napi::Error MakeError(Napi::Env env, int err) override {
    return SystemError(env, err, "lsetxattr", path_);
  }

 private:
  std::string path_, name_;
  std::vector<char> value_;
  int flags_;
};

class GetWorker : public SyscallWorker {
 public:
  GetWorker(Napi::Env env, std::string path, std::string name)
      : SyscallWorker(env, "flotilla.lgetxattr"),
        path_(std::move(path)),
        name_(std::move(name)) {}

 protected:
  int Call() override {
    return ReadSized(
        [this](char* buf, size_t size) {
          return ::lgetxattr(path_.c_str(), name_.c_str(), buf, size);
        },
        &value_);
  }
  Napi::Error MakeError(Napi::Env env, int err) override {
    return SystemError(env, err, "lgetxattr", path_);
  }
  Napi::Value Result(Napi::Env env) override {
    return Napi::Buffer<char>::Copy(env, value_.data(), value_.size());
  }

 private:
  std::string path_, name_;
  std::vector<char> value_;
};

class ListWorker : public SyscallWorker {
 public:
  ListWorker(Napi::Env env, std::string path)
      : SyscallWorker(env, "flotilla.llistxattr"), path_(std::move(path)) {}

 protected:
  int Call() override {
    return ReadSized(
        [this](char* buf, size_t size) {
          return ::llistxattr(path_.c_str(), buf, size);
        },
        &list_);
  }
  Napi::Error MakeError(Napi::Env env, int err) override {
    return SystemError(env, err, "llistxattr", path_);
  }
  // The kernel returns the names NUL-terminated, one after another.
  Napi::Value Result(Napi::Env env) override {
    Napi::Array names = Napi::Array::New(env);
    uint32_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i < list_.size(); ++i) {
      if (list_[i] != '\0') continue;
      if (i > start) {
        names.Set(n++, Napi::String::New(env, list_.data() + start, i - start));
      }
      start = i + 1;
    }
    return names;
  }

 private:
  std::string path_;
  std::vector<char> list_;
};

class RemoveWorker : public SyscallWorker {
 public:
  RemoveWorker(Napi::Env env, std::string path, std::string name)
      : SyscallWorker(env, "flotilla.lremovexattr"),
        path_(std::move(path)),
        name_(std::move(name)) {}

 protected:
  int Call() override {
    return ::lremovexattr(path_.c_str(), name_.c_str()) != 0 ? errno : 0;
  }
  Napi::Error MakeError(Napi::Env env, int err) override {
    return SystemError(env, err, "lremovexattr", path_);
  }

 private:
  std::string path_, name_;
};

// The value argument: a Buffer or any Uint8Array, copied so the worker owns
// it while the syscall runs.
std::vector<char> Bytes(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw ArgError(info.Env(), "ERR_INVALID_ARG_TYPE",
                   "The \"value\" argument must be an instance of Buffer or "
                   "Uint8Array.");
  }
  auto bytes = info[i].As<Napi::Uint8Array>();
  const char* data = reinterpret_cast<const char*>(bytes.Data());
  return std::vector<char>(data, data + bytes.ByteLength());
}

Napi::Value LSetXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto path = RequiredString(info, 0, "path");
    auto name = RequiredString(info, 1, "name");
    auto value = Bytes(info, 2);
    auto flags = static_cast<int>(
        Flags(info, 3, static_cast<double>(XATTR_CREATE | XATTR_REPLACE)));
    return new SetWorker(env, std::move(path), std::move(name),
                         std::move(value), flags);
  });
}

Napi::Value LGetXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto path = RequiredString(info, 0, "path");
    auto name = RequiredString(info, 1, "name");
    return new GetWorker(env, std::move(path), std::move(name));
  });
}

Napi::Value LListXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto path = RequiredString(info, 0, "path");
    return new ListWorker(env, std::move(path));
  });
}

Napi::Value LRemoveXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto path = RequiredString(info, 0, "path");
    auto name = RequiredString(info, 1, "name");
    return new RemoveWorker(env, std::move(path), std::move(name));
  });
}

}  // namespace

void InitXattr(Napi::Env env, Napi::Object exports) {
  exports.Set("lsetxattr", Napi::Function::New(env, LSetXattr, "lsetxattr"));
  exports.Set("lgetxattr", Napi::Function::New(env, LGetXattr, "lgetxattr"));
  exports.Set("llistxattr", Napi::Function::New(env, LListXattr, "llistxattr"));
  exports.Set("lremovexattr",
              Napi::Function::New(env, LRemoveXattr, "lremovexattr"));
  Napi::Object xattr = Napi::Object::New(env);
  xattr.Set("XATTR_CREATE", Napi::Number::New(env, XATTR_CREATE));
  xattr.Set("XATTR_REPLACE", Napi::Number::New(env, XATTR_REPLACE));
  xattr.Freeze();
  exports.Set("XATTR", xattr);
}

}  // namespace flotilla
