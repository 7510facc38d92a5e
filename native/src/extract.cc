// Batches of unpacking operations under one root, each batch one job on the
// libuv thread pool.
//
//   extractor(root): Extractor
//   extractBatch(extractor, ops): Promise<void>
//   closeExtractor(extractor): void
//
// Why batches: a layer of 20,000 small files done with one Node fs call per
// syscall is 120,000 round trips to the thread pool. Here the caller (the
// tar reader, on the main thread) describes a few hundred entries at a time
// and one job does them all, while the main thread reads on.
//
// Why it is safe: every operation names a parent directory relative to the
// root and a single final component. The parent is opened with openat2 and
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so the kernel refuses any parent
// that would leave the root or pass through a symlink: the caller resolves
// symlinks inside the image itself, and hands over only real directories.
// The final component is created with O_EXCL / O_NOFOLLOW / *at calls that
// never follow it, so a symlink already standing there is replaced, never
// written through. Ownership is set before the mode (chown clears setuid and
// setgid) and times last.
//
// A file larger than one batch spans several: 'file' creates it with the
// first part of its data, 'data' ops append the rest, and the extractor keeps
// it open in between; the metadata is applied once the last byte is written.
//
// Batches on one extractor run one at a time, in order. The first failure
// stops the batch and rejects with a Node-style error carrying `index`, the
// position of the failed op; the extractor cannot be used after that.
#include "extract.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "errors.h"
#include "handle.h"
#include "queue_worker.h"

namespace flotilla {
namespace {

constexpr napi_type_tag kExtractorTag = {0x3e9b27c4d1a05f68ULL,
                                         0xb7f0c2e95a4d1836ULL};
constexpr double kMaxSafeInteger = 9007199254740991.0;
// writev takes at most this many buffers per call.
constexpr size_t kMaxIov = IOV_MAX;

enum class Kind {
  kDir,
  kFile,
  kData,
  kSymlink,
  kLink,
  kNode,
  kWhiteout,
  kOpaque,
  kRemove,
  kTimes,
};

struct Xattr {
  std::string name;
  std::string value;
};

struct Chunk {
  const char* data;
  size_t size;
};

struct Op {
  Kind kind = Kind::kDir;
  std::string dir;
  std::string name;
  std::string target;       // symlink: the link text
  std::string target_dir;   // hardlink: where the existing entry is
  std::string target_name;
  mode_t mode = 0;
  bool chown = false;
  uid_t uid = 0;
  gid_t gid = 0;
  dev_t rdev = 0;
  bool has_times = false;
  timespec times[2] = {};  // atime, mtime
  uint64_t size = 0;       // file: its whole length
  std::vector<Xattr> xattrs;
  std::vector<Chunk> data;
};

// What failed, turned into an Error on the main thread.
struct Failure {
  int err = 0;
  const char* syscall = "";
  std::string path;
};

struct Extractor {
  Extractor(const Extractor&) = delete;
  Extractor& operator=(const Extractor&) = delete;
  explicit Extractor(std::string r) : root(std::move(r)) {}
  ~Extractor() { CloseFds(); }

  void CloseFds() {
    if (file_fd >= 0) ::close(file_fd);
    if (root_fd >= 0) ::close(root_fd);
    file_fd = -1;
    root_fd = -1;
  }

  std::string root;
  int root_fd = -1;
  // A file whose data continues in a later batch, with what to apply once
  // the rest has arrived.
  int file_fd = -1;
  uint64_t file_remaining = 0;
  Op file_meta;
  bool busy = false;
  bool closed = false;
  bool broken = false;
};

// "root/dir/name" for messages.
std::string Join(const std::string& root, const std::string& dir,
                 const std::string& name) {
  std::string out = root;
  for (const std::string* part : {&dir, &name}) {
    if (part->empty() || *part == ".") continue;
    if (out.empty() || out.back() != '/') out += '/';
    out += *part;
  }
  return out;
}

bool HasPrefix(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

// Runs the ops of one batch. Holds the parent directory last opened, since
// a layer lists a directory's entries one after another.
class Runner {
 public:
  Runner(Extractor* ex, Failure* failure) : ex_(ex), failure_(failure) {}
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  ~Runner() { DropCachedDir(); }

  bool Open() {
    if (ex_->root_fd >= 0) return true;
    int fd = ::open(ex_->root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Fail(errno, "open", "", "");
    ex_->root_fd = fd;
    return true;
  }

  bool Run(Op& op) {
    if (ex_->file_fd >= 0 && op.kind != Kind::kData) {
      // The open file's remaining data must come first.
      return Fail(EINVAL, "extract", op.dir, op.name);
    }
    switch (op.kind) {
      case Kind::kDir: return MakeDir(op);
      case Kind::kFile: return MakeFile(op);
      case Kind::kData: return AppendData(op);
      case Kind::kSymlink: return MakeSymlink(op);
      case Kind::kLink: return MakeLink(op);
      case Kind::kNode: return MakeNode(op);
      case Kind::kWhiteout: return MakeWhiteout(op);
      case Kind::kOpaque: return MakeOpaque(op);
      case Kind::kRemove: return Remove(op);
      case Kind::kTimes: return SetTimes(op);
    }
    return Fail(EINVAL, "extract", op.dir, op.name);
  }

 private:
  bool Fail(int err, const char* syscall, const std::string& dir,
            const std::string& name) {
    failure_->err = err;
    failure_->syscall = syscall;
    failure_->path = Join(ex_->root, dir, name);
    return false;
  }

  void DropCachedDir() {
    if (cached_fd_ >= 0) ::close(cached_fd_);
    cached_fd_ = -1;
    cached_dir_.clear();
  }

  // A descriptor for the directory `rel` under the root (not to be closed by
  // the caller), or -1 with the failure recorded.
  int Dir(const std::string& rel) {
    if (rel.empty()) return ex_->root_fd;
    if (cached_fd_ >= 0 && cached_dir_ == rel) return cached_fd_;
    int fd = OpenBeneath(rel);
    if (fd < 0) {
      Fail(errno, "openat2", rel, "");
      return -1;
    }
    DropCachedDir();
    cached_fd_ = fd;
    cached_dir_ = rel;
    return fd;
  }

  // The directory `rel`, refusing symlinks and anything outside the root.
  int OpenBeneath(const std::string& rel) {
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < 8; ++attempt) {
      long fd = ::syscall(SYS_openat2, ex_->root_fd, rel.c_str(), &how, sizeof how);
      if (fd >= 0) return static_cast<int>(fd);
      // EAGAIN: a concurrent rename or mount made the kernel give up; retry.
      if (errno != EAGAIN) break;
    }
    if (errno != ENOSYS) return -1;
    // Before Linux 5.6: one component at a time, none of them a symlink
    // (the op parser already refused "." and ".." components).
    int fd = ::dup(ex_->root_fd);
    size_t start = 0;
    while (fd >= 0 && start <= rel.size()) {
      size_t end = rel.find('/', start);
      if (end == std::string::npos) end = rel.size();
      std::string part = rel.substr(start, end - start);
      int next = ::openat(fd, part.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int saved = errno;
      ::close(fd);
      errno = saved;
      fd = next;
      start = end + 1;
    }
    return fd;
  }

  // Makes room for a new entry: removes whatever is at dir/name, a whole
  // tree if it is a directory. Directory descriptors may now point at removed
  // directories, so the cached one is dropped.
  bool Clear(int dfd, const Op& op) {
    bool ok = RemoveAll(dfd, op.name.c_str(), op.dir, op.name);
    if (cached_dir_ != op.dir) DropCachedDir();
    return ok;
  }

  bool RemoveAll(int dfd, const char* name, const std::string& dir,
                 const std::string& label) {
    if (::unlinkat(dfd, name, 0) == 0 || errno == ENOENT) return true;
    if (errno != EISDIR) return Fail(errno, "unlinkat", dir, label);
    int fd = ::openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Fail(errno, "openat", dir, label);
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      int err = errno;
      ::close(fd);
      return Fail(err, "fdopendir", dir, label);
    }
    // Names first, removals after: no reliance on readdir's behaviour while
    // the directory changes under it.
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    bool ok = errno == 0 || Fail(errno, "readdir", dir, label);
    for (size_t i = 0; ok && i < names.size(); ++i) {
      ok = RemoveAll(::dirfd(d), names[i].c_str(), dir, label + "/" + names[i]);
    }
    ::closedir(d);
    if (!ok) return false;
    if (::unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return Fail(errno, "unlinkat", dir, label);
    }
    return true;
  }

  // Sets the entry's xattrs through `fd` when there is one, else by path
  // (through the parent's /proc/self/fd entry, so the parent is the one we
  // opened). Like containerd, a filesystem without xattr support, and user.*
  // attributes where Linux does not allow them (anything but regular files
  // and directories), are not errors.
  bool SetXattrs(const Op& op, int fd, int dfd, bool regular_or_dir) {
    for (const Xattr& x : op.xattrs) {
      int r;
      if (fd >= 0) {
        r = ::fsetxattr(fd, x.name.c_str(), x.value.data(), x.value.size(), 0);
      } else {
        std::string path = "/proc/self/fd/" + std::to_string(dfd) + "/" + op.name;
        r = ::lsetxattr(path.c_str(), x.name.c_str(), x.value.data(), x.value.size(), 0);
      }
      if (r == 0) continue;
      int err = errno;
      if (err == ENOTSUP) continue;
      if (err == EPERM && !regular_or_dir && HasPrefix(x.name, "user.")) continue;
      return Fail(err, fd >= 0 ? "fsetxattr" : "lsetxattr", op.dir, op.name);
    }
    return true;
  }

  // chown, xattrs, chmod, times on an open descriptor (files, directories).
  bool FinishFd(const Op& op, int fd) {
    if (op.chown && ::fchown(fd, op.uid, op.gid) != 0) {
      return Fail(errno, "fchown", op.dir, op.name);
    }
    if (!SetXattrs(op, fd, -1, true)) return false;
    if (::fchmod(fd, op.mode & 07777) != 0) return Fail(errno, "fchmod", op.dir, op.name);
    if (op.has_times && ::futimens(fd, op.times) != 0) {
      return Fail(errno, "futimens", op.dir, op.name);
    }
    return true;
  }

  // The same by name, never following the entry itself. `chmod` is false for
  // an entry that may be a symlink: Linux symlinks have no mode of their own,
  // and changing one by name would change its target.
  bool FinishAt(const Op& op, int dfd, bool chmod) {
    const char* name = op.name.c_str();
    if (op.chown && ::fchownat(dfd, name, op.uid, op.gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(errno, "fchownat", op.dir, op.name);
    }
    if (!SetXattrs(op, -1, dfd, false)) return false;
    if (chmod && ::fchmodat(dfd, name, op.mode & 07777, 0) != 0) {
      return Fail(errno, "fchmodat", op.dir, op.name);
    }
    if (op.has_times && ::utimensat(dfd, name, op.times, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(errno, "utimensat", op.dir, op.name);
    }
    return true;
  }

  bool MakeDir(const Op& op) {
    int dfd = Dir(op.dir);
    if (dfd < 0) return false;
    const char* name = op.name.c_str();
    if (::mkdirat(dfd, name, 0700) != 0) {
      if (errno != EEXIST) return Fail(errno, "mkdirat", op.dir, op.name);
      struct stat st;
      if (::fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return Fail(errno, "fstatat", op.dir, op.name);
      }
      // An existing directory is merged with (it keeps its content); anything
      // else makes way.
      if (!S_ISDIR(st.st_mode)) {
        if (!Clear(dfd, op)) return false;
        if (::mkdirat(dfd, name, 0700) != 0) return Fail(errno, "mkdirat", op.dir, op.name);
      }
    }
    int fd = ::openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Fail(errno, "openat", op.dir, op.name);
    bool ok = FinishFd(op, fd);
    ::close(fd);
    return ok;
  }

  bool WriteAll(int fd, const std::vector<Chunk>& data, const Op& label) {
    std::vector<iovec> iov;
    iov.reserve(std::min(data.size(), kMaxIov));
    size_t next = 0;
    while (next < data.size() || !iov.empty()) {
      while (next < data.size() && iov.size() < kMaxIov) {
        if (data[next].size > 0) {
          iov.push_back({const_cast<char*>(data[next].data), data[next].size});
        }
        ++next;
      }
      if (iov.empty()) break;
      ssize_t n = ::writev(fd, iov.data(), static_cast<int>(iov.size()));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Fail(errno, "write", label.dir, label.name);
      }
      // Drop what was written; a short write leaves the rest of a buffer.
      size_t done = static_cast<size_t>(n);
      size_t i = 0;
      while (i < iov.size() && done >= iov[i].iov_len) done -= iov[i++].iov_len;
      iov.erase(iov.begin(), iov.begin() + static_cast<std::ptrdiff_t>(i));
      if (!iov.empty() && done > 0) {
        iov[0].iov_base = static_cast<char*>(iov[0].iov_base) + done;
        iov[0].iov_len -= done;
      }
    }
    return true;
  }

  static uint64_t Total(const std::vector<Chunk>& data) {
    uint64_t n = 0;
    for (const Chunk& c : data) n += c.size;
    return n;
  }

  bool CloseFile(int fd, const Op& meta) {
    bool ok = FinishFd(meta, fd);
    if (::close(fd) != 0 && ok) return Fail(errno, "close", meta.dir, meta.name);
    return ok;
  }

  bool MakeFile(Op& op) {
    uint64_t have = Total(op.data);
    if (have > op.size) return Fail(EINVAL, "write", op.dir, op.name);
    int dfd = Dir(op.dir);
    if (dfd < 0) return false;
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = ::openat(dfd, op.name.c_str(), flags, 0600);
    if (fd < 0 && errno == EEXIST) {
      if (!Clear(dfd, op)) return false;
      dfd = Dir(op.dir);
      if (dfd < 0) return false;
      fd = ::openat(dfd, op.name.c_str(), flags, 0600);
    }
    if (fd < 0) return Fail(errno, "openat", op.dir, op.name);
    if (!WriteAll(fd, op.data, op)) {
      ::close(fd);
      return false;
    }
    if (have < op.size) {
      ex_->file_fd = fd;
      ex_->file_remaining = op.size - have;
      op.data.clear();
      ex_->file_meta = std::move(op);
      return true;
    }
    return CloseFile(fd, op);
  }

  bool AppendData(const Op& op) {
    const Op& meta = ex_->file_meta;
    if (ex_->file_fd < 0) {
      return Fail(EINVAL, "extract", "", "");  // data without an open file
    }
    uint64_t have = Total(op.data);
    if (have > ex_->file_remaining) return Fail(EINVAL, "write", meta.dir, meta.name);
    if (!WriteAll(ex_->file_fd, op.data, meta)) return false;
    ex_->file_remaining -= have;
    if (ex_->file_remaining > 0) return true;
    int fd = ex_->file_fd;
    ex_->file_fd = -1;
    return CloseFile(fd, meta);
  }

  // Runs `make` (a *at call creating dir/name); if something is in the way,
  // clears it and tries once more.
  template <typename F>
  bool Create(const Op& op, const char* syscall, F make) {
    int dfd = Dir(op.dir);
    if (dfd < 0) return false;
    if (make(dfd) == 0) return true;
    if (errno != EEXIST) return Fail(errno, syscall, op.dir, op.name);
    if (!Clear(dfd, op)) return false;
    dfd = Dir(op.dir);
    if (dfd < 0) return false;
    if (make(dfd) != 0) return Fail(errno, syscall, op.dir, op.name);
    return true;
  }

  bool MakeSymlink(const Op& op) {
    bool ok = Create(op, "symlinkat", [&](int dfd) {
      return ::symlinkat(op.target.c_str(), dfd, op.name.c_str());
    });
    int dfd = ok ? Dir(op.dir) : -1;
    return dfd >= 0 && FinishAt(op, dfd, false);
  }

  bool MakeLink(const Op& op) {
    // Open the link target's directory on its own: the cached descriptor is
    // the new entry's parent.
    int tfd = op.target_dir.empty() ? ::dup(ex_->root_fd) : OpenBeneath(op.target_dir);
    if (tfd < 0) return Fail(errno, "openat2", op.target_dir, "");
    bool ok = Create(op, "linkat", [&](int dfd) {
      return ::linkat(tfd, op.target_name.c_str(), dfd, op.name.c_str(), 0);
    });
    ::close(tfd);
    if (!ok) return false;
    int dfd = Dir(op.dir);
    if (dfd < 0) return false;
    struct stat st;
    if (::fstatat(dfd, op.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(errno, "fstatat", op.dir, op.name);
    }
    // A hardlink to a symlink is a symlink.
    return FinishAt(op, dfd, !S_ISLNK(st.st_mode));
  }

  bool MakeNode(const Op& op) {
    bool ok = Create(op, "mknodat", [&](int dfd) {
      return ::mknodat(dfd, op.name.c_str(), op.mode, op.rdev);
    });
    int dfd = ok ? Dir(op.dir) : -1;
    return dfd >= 0 && FinishAt(op, dfd, true);
  }

  // An overlay whiteout: a 0/0 character device. Not replacing what is
  // there, as containerd does not: the upper directory of a fresh snapshot
  // holds nothing at that name.
  bool MakeWhiteout(const Op& op) {
    int dfd = Dir(op.dir);
    if (dfd < 0) return false;
    if (::mknodat(dfd, op.name.c_str(), S_IFCHR, 0) != 0) {
      return Fail(errno, "mknodat", op.dir, op.name);
    }
    if (op.chown &&
        ::fchownat(dfd, op.name.c_str(), op.uid, op.gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(errno, "fchownat", op.dir, op.name);
    }
    return true;
  }

  bool MakeOpaque(const Op& op) {
    int dfd = Dir(op.dir);
    if (dfd < 0) return false;
    if (::fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) != 0) {
      return Fail(errno, "fsetxattr", op.dir, "");
    }
    return true;
  }

  bool Remove(const Op& op) {
    int dfd = Dir(op.dir);
    if (dfd < 0) return false;
    return Clear(dfd, op);
  }

  bool SetTimes(const Op& op) {
    int dfd = Dir(op.dir);
    if (dfd < 0) return false;
    if (::utimensat(dfd, op.name.c_str(), op.times, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(errno, "utimensat", op.dir, op.name);
    }
    return true;
  }

  Extractor* ex_;
  Failure* failure_;
  int cached_fd_ = -1;
  std::string cached_dir_;
};

// ---- Reading ops from JS, on the main thread ----

Napi::Error OpError(Napi::Env env, uint32_t index, const std::string& what) {
  return ArgError(env, "ERR_INVALID_ARG_VALUE",
                  "ops[" + std::to_string(index) + "]: " + what);
}

std::string StringField(Napi::Env env, const Napi::Object& o, const char* key,
                        uint32_t index) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw OpError(env, index, std::string(key) + " must be a string");
  return CheckedString(env, v, key);
}

double NumberField(Napi::Env env, const Napi::Object& o, const char* key,
                   uint32_t index, double max) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw OpError(env, index, std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<int64_t>(d))) {
    throw OpError(env, index, std::string(key) + " is out of range");
  }
  return d;
}

// One path component: what *at calls get as the entry's name.
void CheckName(Napi::Env env, const std::string& name, uint32_t index) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    throw OpError(env, index, "name must be a single path component");
  }
}

// A relative path of plain components ('' is the root itself).
void CheckDir(Napi::Env env, const std::string& dir, uint32_t index) {
  if (dir.empty()) return;
  size_t start = 0;
  for (;;) {
    size_t end = dir.find('/', start);
    std::string part = dir.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part.empty() || part == "." || part == "..") {
      throw OpError(env, index, "dir must be a relative path without '.', '..' or empty components");
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

void ReadTimes(Napi::Env env, const Napi::Object& o, Op* op, uint32_t index,
               bool required) {
  Napi::Value a = o.Get("atime");
  Napi::Value m = o.Get("mtime");
  if (a.IsUndefined() && m.IsUndefined() && !required) return;
  if (!a.IsObject() || !m.IsObject()) {
    throw OpError(env, index, "atime and mtime must both be { sec, nsec }");
  }
  Napi::Value both[2] = {a, m};
  for (int i = 0; i < 2; ++i) {
    auto t = both[i].As<Napi::Object>();
    op->times[i].tv_sec = static_cast<time_t>(NumberField(env, t, "sec", index, kMaxSafeInteger));
    op->times[i].tv_nsec = static_cast<long>(NumberField(env, t, "nsec", index, 999999999));
  }
  op->has_times = true;
}

void ReadOwner(Napi::Env env, const Napi::Object& o, Op* op, uint32_t index) {
  Napi::Value uid = o.Get("uid");
  Napi::Value gid = o.Get("gid");
  if (uid.IsUndefined() && gid.IsUndefined()) return;
  op->uid = static_cast<uid_t>(NumberField(env, o, "uid", index, UINT32_MAX - 1.0));
  op->gid = static_cast<gid_t>(NumberField(env, o, "gid", index, UINT32_MAX - 1.0));
  op->chown = true;
}

void ReadXattrs(Napi::Env env, const Napi::Object& o, Op* op, uint32_t index) {
  Napi::Value v = o.Get("xattrs");
  if (v.IsUndefined()) return;
  if (!v.IsArray()) throw OpError(env, index, "xattrs must be an array of [name, value]");
  auto list = v.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value pair = list.Get(i);
    if (!pair.IsArray()) throw OpError(env, index, "xattrs must be an array of [name, value]");
    auto p = pair.As<Napi::Array>();
    Napi::Value name = p.Get(0u);
    Napi::Value value = p.Get(1u);
    if (!name.IsString() || !value.IsTypedArray() ||
        value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw OpError(env, index, "xattrs must be an array of [string, Uint8Array]");
    }
    auto bytes = value.As<Napi::Uint8Array>();
    const char* data = reinterpret_cast<const char*>(bytes.Data());
    op->xattrs.push_back({CheckedString(env, name, "xattr name"),
                          std::string(data, bytes.ByteLength())});
  }
}

class ExtractWorker : public Napi::AsyncWorker {
 public:
  ExtractWorker(Napi::Env env, Napi::Value handle, Extractor* ex)
      : Napi::AsyncWorker(env, "flotilla.extractBatch"),
        deferred_(Napi::Promise::Deferred::New(env)),
        handle_(Napi::Persistent(handle.As<Napi::Object>())),
        ex_(ex) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  // Reads `ops` into C++ structures; the Uint8Arrays holding file data are
  // referenced, not copied, until the job is done.
  void Read(Napi::Env env, const Napi::Array& ops) {
    ops_.reserve(ops.Length());
    for (uint32_t i = 0; i < ops.Length(); ++i) {
      Napi::Value v = ops.Get(i);
      if (!v.IsObject()) throw OpError(env, i, "must be an object");
      ops_.push_back(ReadOp(env, v.As<Napi::Object>(), i));
    }
  }

 protected:
  void Execute() override {
    Runner runner(ex_, &failure_);
    if (!runner.Open()) return;
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (!runner.Run(ops_[i])) {
        failed_index_ = static_cast<int64_t>(i);
        return;
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    ex_->busy = false;
    if (failure_.err == 0) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    ex_->broken = true;
    if (ex_->file_fd >= 0) {
      ::close(ex_->file_fd);
      ex_->file_fd = -1;
    }
    Napi::Error error = SystemError(env, failure_.err, failure_.syscall, failure_.path);
    if (failed_index_ >= 0) {
      error.Value().Set("index", Napi::Number::New(env, static_cast<double>(failed_index_)));
    }
    deferred_.Reject(error.Value());
  }

  void OnError(const Napi::Error& e) override {
    ex_->busy = false;
    ex_->broken = true;
    deferred_.Reject(e.Value());
  }

 private:
  std::vector<Chunk> ReadData(Napi::Env env, const Napi::Object& o, uint32_t index) {
    Napi::Value v = o.Get("data");
    if (!v.IsArray()) throw OpError(env, index, "data must be an array of Uint8Array");
    auto list = v.As<Napi::Array>();
    std::vector<Chunk> chunks;
    chunks.reserve(list.Length());
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Value item = list.Get(i);
      if (!item.IsTypedArray() ||
          item.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw OpError(env, index, "data must be an array of Uint8Array");
      }
      auto bytes = item.As<Napi::Uint8Array>();
      chunks.push_back({reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength()});
      refs_.push_back(Napi::Persistent(item.As<Napi::Object>()));
    }
    return chunks;
  }

  Op ReadOp(Napi::Env env, const Napi::Object& o, uint32_t index) {
    Op op;
    std::string kind = StringField(env, o, "op", index);
    if (kind == "data") {
      op.kind = Kind::kData;
      op.data = ReadData(env, o, index);
      return op;
    }
    op.dir = StringField(env, o, "dir", index);
    CheckDir(env, op.dir, index);
    if (kind == "opaque") {
      op.kind = Kind::kOpaque;
      return op;
    }
    op.name = StringField(env, o, "name", index);
    CheckName(env, op.name, index);
    if (kind == "remove") {
      op.kind = Kind::kRemove;
    } else if (kind == "times") {
      op.kind = Kind::kTimes;
      ReadTimes(env, o, &op, index, true);
    } else if (kind == "whiteout") {
      op.kind = Kind::kWhiteout;
      ReadOwner(env, o, &op, index);
    } else if (kind == "dir" || kind == "file" || kind == "symlink" ||
               kind == "link" || kind == "node") {
      ReadOwner(env, o, &op, index);
      ReadXattrs(env, o, &op, index);
      ReadTimes(env, o, &op, index, false);
      if (kind != "symlink") {
        op.mode = static_cast<mode_t>(NumberField(env, o, "mode", index, UINT32_MAX));
      }
      if (kind == "dir") {
        op.kind = Kind::kDir;
      } else if (kind == "file") {
        op.kind = Kind::kFile;
        op.size = static_cast<uint64_t>(NumberField(env, o, "size", index, kMaxSafeInteger));
        op.data = ReadData(env, o, index);
      } else if (kind == "symlink") {
        op.kind = Kind::kSymlink;
        op.target = StringField(env, o, "target", index);
      } else if (kind == "link") {
        op.kind = Kind::kLink;
        op.target_dir = StringField(env, o, "targetDir", index);
        CheckDir(env, op.target_dir, index);
        op.target_name = StringField(env, o, "targetName", index);
        CheckName(env, op.target_name, index);
      } else {
        op.kind = Kind::kNode;
        mode_t type = op.mode & S_IFMT;
        if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO) {
          throw OpError(env, index, "mode must name a character device, block device or FIFO");
        }
        op.mode &= S_IFMT | 07777;
        op.rdev = static_cast<dev_t>(NumberField(env, o, "rdev", index, kMaxSafeInteger));
      }
    } else {
      throw OpError(env, index, "unknown op " + kind);
    }
    return op;
  }

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference handle_;
  std::vector<Napi::ObjectReference> refs_;
  Extractor* ex_;
  std::vector<Op> ops_;
  Failure failure_;
  int64_t failed_index_ = -1;
};

Napi::Value NewExtractor(const Napi::CallbackInfo& info) {
  auto root = RequiredString(info, 0, "root");
  return NewHandle(info.Env(), new Extractor(std::move(root)), &kExtractorTag);
}

Napi::Value ExtractBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto* ex = UnwrapHandle<Extractor>(env, info[0], &kExtractorTag, "an Extractor");
    if (!info[1].IsArray()) {
      throw ArgError(env, "ERR_INVALID_ARG_TYPE", "The \"ops\" argument must be an array.");
    }
    if (ex->closed) throw StateError(env, "extractor is closed");
    if (ex->broken) throw StateError(env, "extractor failed earlier");
    if (ex->busy) throw StateError(env, "extractor is running another batch");
    auto* worker = new ExtractWorker(env, info[0], ex);
    try {
      worker->Read(env, info[1].As<Napi::Array>());
    } catch (...) {
      delete worker;
      throw;
    }
    ex->busy = true;
    return worker;
  });
}

Napi::Value CloseExtractor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* ex = UnwrapHandle<Extractor>(env, info[0], &kExtractorTag, "an Extractor");
  if (ex->busy) throw StateError(env, "extractor is running a batch");
  ex->CloseFds();
  ex->closed = true;
  return env.Undefined();
}

}  // namespace

void InitExtract(Napi::Env env, Napi::Object exports) {
  exports.Set("extractor", Napi::Function::New(env, NewExtractor, "extractor"));
  exports.Set("extractBatch", Napi::Function::New(env, ExtractBatch, "extractBatch"));
  exports.Set("closeExtractor", Napi::Function::New(env, CloseExtractor, "closeExtractor"));
}

}  // namespace flotilla
