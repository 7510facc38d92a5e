// A list of small filesystem calls run in order, as one job on the libuv
// thread pool.
//
//   fsBatch(ops): Promise<FsBatchResult[]>
//
// Each of Node's asynchronous fs calls is a round trip through the pool: a
// worker is woken, runs one syscall, and wakes the event loop again. Creating
// a content ingest (a directory, four small files, the data file) or
// publishing one (link, times, mode, the directory's removal) is a dozen of
// those, and on a virtual machine each wake-up is a costly context switch:
// they were most of the content process's CPU for a small blob. Here the
// same calls are one job, so one wake-up each way.
//
// Ops (every path absolute or relative to the process's cwd; modes octal):
//   {op: 'mkdir', path, mode}
//   {op: 'writeFile', path, data, mode, sync?, tmp?}
//       create or truncate and write `data` (a string, as UTF-8); with `tmp`,
//       write that file and rename it over `path` (so a reader sees the old
//       text or the new, never half); with `sync`, open it O_SYNC.
//   {op: 'open', path, flags, mode}      -> result.fd (O_CLOEXEC is added)
//   {op: 'fsync', fd} | {op: 'close', fd}
//   {op: 'fstat', fd}                    -> result.size, .mode, .mtimeMs
//   {op: 'link', from, to} | {op: 'rename', from, to}
//   {op: 'unlink', path} | {op: 'rmdir', path} | {op: 'chmod', path, mode}
//   {op: 'utimes', path, timeMs}         access and modification time
// Any op may say `optional: true`: its failure is reported in its result and
// the batch goes on. Any other failure ends the batch: the ops after it are
// not run and their results say `skipped: true`. The promise resolves with
// one result per op; a failed op's result holds `error`, a Node-style system
// error (errno, code, syscall, path). It rejects only for malformed ops. A
// descriptor an `open` returned is the caller's to close, even when a later
// op failed.
#include "fs_batch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "errors.h"
#include "queue_worker.h"
#include "syscall_worker.h"

namespace flotilla {
namespace {

enum class Kind { kMkdir, kWriteFile, kOpen, kFsync, kClose, kFstat, kLink, kRename, kUnlink, kRmdir, kChmod, kUtimes };

struct Op {
  Kind kind = Kind::kMkdir;
  std::string path;  // or `from` for link/rename
  std::string to;
  std::string tmp;
  std::string data;
  int fd = -1;
  int flags = 0;
  mode_t mode = 0;
  double time_ms = 0;
  bool sync = false;
  bool optional = false;
};

struct Outcome {
  bool ran = false;
  int err = 0;
  const char* syscall = "";
  std::optional<std::string> path;
  std::optional<std::string> from;
  int fd = -1;
  struct stat st {};
};

// What the op's kind is called in JS, for argument errors.
Kind ParseKind(Napi::Env env, const std::string& name) {
  static const std::pair<const char*, Kind> kinds[] = {
      {"mkdir", Kind::kMkdir}, {"writeFile", Kind::kWriteFile}, {"open", Kind::kOpen},
      {"fsync", Kind::kFsync}, {"close", Kind::kClose},         {"fstat", Kind::kFstat},
      {"link", Kind::kLink},   {"rename", Kind::kRename},       {"unlink", Kind::kUnlink},
      {"rmdir", Kind::kRmdir}, {"chmod", Kind::kChmod},         {"utimes", Kind::kUtimes},
  };
  for (const auto& [n, k] : kinds) {
    if (name == n) return k;
  }
  throw ArgError(env, "ERR_INVALID_ARG_VALUE", "The op \"" + name + "\" is not one fsBatch knows");
}

std::string Str(Napi::Env env, const Napi::Object& o, const char* key) {
  return CheckedString(env, o.Get(key), key);
}

int Fd(Napi::Env env, const Napi::Object& o) {
  return static_cast<int>(Integer(env, o.Get("fd"), "fd", 2147483647.0));
}

mode_t Mode(Napi::Env env, const Napi::Object& o) {
  return static_cast<mode_t>(Integer(env, o.Get("mode"), "mode", 07777));
}

Op ParseOp(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) throw ArgError(env, "ERR_INVALID_ARG_TYPE", "Each op must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Op op;
  op.kind = ParseKind(env, CheckedString(env, o.Get("op"), "op"));
  op.optional = o.Get("optional").ToBoolean().Value();
  switch (op.kind) {
    case Kind::kMkdir:
    case Kind::kChmod:
      op.path = Str(env, o, "path");
      op.mode = Mode(env, o);
      break;
    case Kind::kWriteFile:
      op.path = Str(env, o, "path");
      // File content, not a path: any text, NUL included.
      if (!o.Get("data").IsString()) throw ArgError(env, "ERR_INVALID_ARG_TYPE", "The \"data\" property must be of type string");
      op.data = o.Get("data").As<Napi::String>().Utf8Value();
      op.mode = Mode(env, o);
      op.sync = o.Get("sync").ToBoolean().Value();
      if (!o.Get("tmp").IsUndefined()) op.tmp = Str(env, o, "tmp");
      break;
    case Kind::kOpen:
      op.path = Str(env, o, "path");
      op.flags = static_cast<int>(Integer(env, o.Get("flags"), "flags", 2147483647.0));
      op.mode = Mode(env, o);
      break;
    case Kind::kFsync:
    case Kind::kClose:
    case Kind::kFstat:
      op.fd = Fd(env, o);
      break;
    case Kind::kLink:
    case Kind::kRename:
      op.path = Str(env, o, "from");
      op.to = Str(env, o, "to");
      break;
    case Kind::kUnlink:
    case Kind::kRmdir:
      op.path = Str(env, o, "path");
      break;
    case Kind::kUtimes: {
      op.path = Str(env, o, "path");
      Napi::Value t = o.Get("timeMs");
      if (!t.IsNumber() || !std::isfinite(t.As<Napi::Number>().DoubleValue())) {
        throw ArgError(env, "ERR_INVALID_ARG_TYPE", "The \"timeMs\" property must be a finite number");
      }
      op.time_ms = t.As<Napi::Number>().DoubleValue();
      break;
    }
  }
  return op;
}

// write(2) until every byte is out (a regular file takes all at once unless the
// disk is full, which then fails on the next call).
int WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

class FsBatchWorker : public SyscallWorker {
 public:
  FsBatchWorker(Napi::Env env, std::vector<Op> ops)
      : SyscallWorker(env, "flotilla.fsBatch"), ops_(std::move(ops)), outcomes_(ops_.size()) {}

 protected:
  int Call() override {
    for (size_t i = 0; i < ops_.size(); i++) {
      Outcome& out = outcomes_[i];
      out.ran = true;
      Run(ops_[i], out);
      if (out.err != 0 && !ops_[i].optional) break;
    }
    return 0;
  }

  // Call() reports every failure per op, never as a whole.
  Napi::Error MakeError(Napi::Env env, int err) override { return SystemError(env, err, "fsBatch", std::nullopt); }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array results = Napi::Array::New(env, ops_.size());
    for (size_t i = 0; i < ops_.size(); i++) {
      const Outcome& out = outcomes_[i];
      Napi::Object r = Napi::Object::New(env);
      if (!out.ran) {
        r.Set("skipped", true);
      } else if (out.err != 0) {
        r.Set("error", SystemError(env, out.err, out.syscall, out.path, out.from).Value());
      } else if (ops_[i].kind == Kind::kOpen) {
        r.Set("fd", out.fd);
      } else if (ops_[i].kind == Kind::kFstat) {
        r.Set("size", static_cast<double>(out.st.st_size));
        r.Set("mode", static_cast<double>(out.st.st_mode));
        r.Set("mtimeMs", static_cast<double>(out.st.st_mtim.tv_sec) * 1e3 + static_cast<double>(out.st.st_mtim.tv_nsec) / 1e6);
      }
      results.Set(i, r);
    }
    return results;
  }

 private:
  static void Fail(Outcome& out, const char* syscall, std::optional<std::string> path,
                   std::optional<std::string> from = std::nullopt) {
    out.err = errno;
    out.syscall = syscall;
    out.path = std::move(path);
    out.from = std::move(from);
  }

  static void Run(const Op& op, Outcome& out) {
    switch (op.kind) {
      case Kind::kMkdir:
        if (::mkdir(op.path.c_str(), op.mode) != 0) Fail(out, "mkdir", op.path);
        return;
      case Kind::kWriteFile: {
        const std::string& target = op.tmp.empty() ? op.path : op.tmp;
        int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (op.sync ? O_SYNC : 0);
        int fd = ::open(target.c_str(), flags, op.mode);
        if (fd < 0) return Fail(out, "open", target);
        int err = WriteAll(fd, op.data);
        if (err != 0) {
          ::close(fd);
          errno = err;
          return Fail(out, "write", target);
        }
        if (::close(fd) != 0) return Fail(out, "close", target);
        if (!op.tmp.empty() && ::rename(op.tmp.c_str(), op.path.c_str()) != 0) {
          Fail(out, "rename", op.path, op.tmp);
        }
        return;
      }
      case Kind::kOpen:
        out.fd = ::open(op.path.c_str(), op.flags | O_CLOEXEC, op.mode);
        if (out.fd < 0) Fail(out, "open", op.path);
        return;
      case Kind::kFsync:
        if (::fsync(op.fd) != 0) Fail(out, "fsync", std::nullopt);
        return;
      case Kind::kClose:
        if (::close(op.fd) != 0) Fail(out, "close", std::nullopt);
        return;
      case Kind::kFstat:
        if (::fstat(op.fd, &out.st) != 0) Fail(out, "fstat", std::nullopt);
        return;
      case Kind::kLink:
        if (::link(op.path.c_str(), op.to.c_str()) != 0) Fail(out, "link", op.to, op.path);
        return;
      case Kind::kRename:
        if (::rename(op.path.c_str(), op.to.c_str()) != 0) Fail(out, "rename", op.to, op.path);
        return;
      case Kind::kUnlink:
        if (::unlink(op.path.c_str()) != 0) Fail(out, "unlink", op.path);
        return;
      case Kind::kRmdir:
        if (::rmdir(op.path.c_str()) != 0) Fail(out, "rmdir", op.path);
        return;
      case Kind::kChmod:
        if (::chmod(op.path.c_str(), op.mode) != 0) Fail(out, "chmod", op.path);
        return;
      case Kind::kUtimes: {
        double sec = std::floor(op.time_ms / 1e3);
        struct timespec ts;
        ts.tv_sec = static_cast<time_t>(sec);
        ts.tv_nsec = static_cast<long>(std::llround((op.time_ms - sec * 1e3) * 1e6));
        if (ts.tv_nsec >= 1000000000L) {
          ts.tv_sec += 1;
          ts.tv_nsec -= 1000000000L;
        }
        const struct timespec times[2] = {ts, ts};
        if (::utimensat(AT_FDCWD, op.path.c_str(), times, 0) != 0) Fail(out, "utime", op.path);
        return;
      }
    }
  }

  std::vector<Op> ops_;
  std::vector<Outcome> outcomes_;
};

Napi::Value FsBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    if (!info[0].IsArray()) throw ArgError(env, "ERR_INVALID_ARG_TYPE", "The \"ops\" argument must be an array");
    Napi::Array list = info[0].As<Napi::Array>();
    std::vector<Op> ops;
    ops.reserve(list.Length());
    for (uint32_t i = 0; i < list.Length(); i++) ops.push_back(ParseOp(env, list.Get(i)));
    return new FsBatchWorker(env, std::move(ops));
  });
}

}  // namespace

void InitFsBatch(Napi::Env env, Napi::Object exports) {
  exports.Set("fsBatch", Napi::Function::New(env, FsBatch, "fsBatch"));
}

}  // namespace flotilla
