// The disk a tree takes, walked on the libuv thread pool.
//
//   diskUsage(root): Promise<{ size: number, inodes: number }>
//
// Every inode under `root` (root included) is counted once by (device,
// inode), however many hard links reach it, and its allocated blocks
// (st_blocks, 512-byte units) are added once: what containerd records for a
// snapshot when it is committed. Symlinks are not followed. One call walks
// the whole tree: from JavaScript, each lstat costs a Stats object (tens of
// microseconds with bigint fields), which made the commit of a layer of a
// few hundred entries spend most of its time measuring it.
#include "disk_usage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "args.h"
#include "errors.h"
#include "queue_worker.h"
#include "syscall_worker.h"

namespace flotilla {
namespace {

struct InodeKey {
  dev_t dev;
  ino_t ino;
  bool operator==(const InodeKey& o) const { return dev == o.dev && ino == o.ino; }
};

struct InodeHash {
  size_t operator()(const InodeKey& k) const {
    return std::hash<uint64_t>()(static_cast<uint64_t>(k.ino) * 1000003u ^
                                 static_cast<uint64_t>(k.dev));
  }
};

class DiskUsageWorker : public SyscallWorker {
 public:
  DiskUsageWorker(Napi::Env env, std::string root)
      : SyscallWorker(env, "flotilla.diskUsage"), root_(std::move(root)) {}

 protected:
  int Call() override {
    struct stat st;
    if (::lstat(root_.c_str(), &st) != 0) return Fail("lstat", root_);
    Count(st);
    if (!S_ISDIR(st.st_mode)) return 0;
    std::vector<std::string> dirs{root_};
    while (!dirs.empty()) {
      std::string dir = std::move(dirs.back());
      dirs.pop_back();
      int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) return Fail("open", dir);
      DIR* d = ::fdopendir(fd);
      if (d == nullptr) {
        int err = errno;
        ::close(fd);
        errno = err;
        return Fail("fdopendir", dir);
      }
      for (;;) {
        errno = 0;
        struct dirent* e = ::readdir(d);
        if (e == nullptr) {
          if (errno != 0) {
            int err = errno;
            ::closedir(d);
            errno = err;
            return Fail("readdir", dir);
          }
          break;
        }
        const char* name = e->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
        if (::fstatat(::dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          int err = errno;
          std::string path = dir + "/" + name;
          ::closedir(d);
          errno = err;
          return Fail("lstat", path);
        }
        Count(st);
        if (S_ISDIR(st.st_mode)) dirs.push_back(dir + "/" + name);
      }
      ::closedir(d);
    }
    return 0;
  }

  Napi::Error MakeError(Napi::Env env, int err) override {
    return SystemError(env, err, syscall_, path_);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("size", Napi::Number::New(env, static_cast<double>(size_)));
    out.Set("inodes", Napi::Number::New(env, static_cast<double>(seen_.size())));
    return out;
  }

 private:
  void Count(const struct stat& st) {
    if (seen_.insert({st.st_dev, st.st_ino}).second) {
      size_ += static_cast<uint64_t>(st.st_blocks) * 512u;
    }
  }

  int Fail(const char* syscall, const std::string& path) {
    syscall_ = syscall;
    path_ = path;
    return errno;
  }

  std::string root_;
  std::unordered_set<InodeKey, InodeHash> seen_;
  uint64_t size_ = 0;
  const char* syscall_ = "lstat";
  std::string path_;
};

Napi::Value DiskUsage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    return new DiskUsageWorker(env, RequiredString(info, 0, "root"));
  });
}

}  // namespace

void InitDiskUsage(Napi::Env env, Napi::Object exports) {
  exports.Set("diskUsage", Napi::Function::New(env, DiskUsage, "diskUsage"));
}

}  // namespace flotilla
