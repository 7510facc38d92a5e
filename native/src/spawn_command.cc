// Running a program to completion without fork() on the main thread.
//
//   runCommand(file, argv, env, options?): RunningCommand
//     options: { cwd?, stdin?, newProcessGroup?, onSpawn? }
//     RunningCommand: { pid, result: Promise<CommandResult>, kill(signal?) }
//
// Node 20's child_process.spawn forks (libuv 1.46 uses fork()), so every
// spawn copies the page tables of the whole Node process, on the main thread.
// runCommand creates the process with posix_spawn instead (glibc: clone with
// CLONE_VM | CLONE_VFORK, whose cost does not grow with the parent), on a
// thread of its own, which then writes stdin, reads stdout and stderr, waits
// for the exit, and reports to the main thread through a thread-safe
// function: first the pid, as soon as the process exists (`pid`, `onSpawn`),
// then the result once the process has exited and its output is at EOF.
//
// A thread per command, not a libuv thread-pool job: a command runs as long as
// it likes (a shim's `start`, up to its timeout), and a few at once would
// otherwise hold the whole default pool of four and stall every fs call.
//
// The child starts clean: stdin/stdout/stderr are pipes to this thread, every
// other descriptor is closed (they are O_CLOEXEC anyway), the signal mask is
// empty and every signal has its default disposition (Node ignores SIGPIPE,
// which exec would otherwise pass on), as libuv's own spawn does. `file` is
// executed as given: there is no PATH search.
//
// Reaping: libuv waits only for the pids of its own children, so this thread
// is the only waiter for its pid. It reaps with the command's mutex held, and
// kill() signals with the same mutex held, so a signal never reaches a pid
// that was already reaped and could have been reused. After kill() the
// result no longer waits for EOF once the process has exited: a descendant
// outside the process group that keeps the output open cannot hold the
// command forever.
#include "spawn_command.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "args.h"
#include "errors.h"

namespace flotilla {
namespace {

// ---------------------------------------------------------------- signals

struct SignalName {
  int number;
  const char* name;
};

// Canonical names first: number -> name takes the first match.
constexpr SignalName kSignals[] = {
#define FLOTILLA_SIGNAL(s) {s, #s},
    FLOTILLA_SIGNAL(SIGHUP) FLOTILLA_SIGNAL(SIGINT) FLOTILLA_SIGNAL(SIGQUIT)
    FLOTILLA_SIGNAL(SIGILL) FLOTILLA_SIGNAL(SIGTRAP) FLOTILLA_SIGNAL(SIGABRT)
    FLOTILLA_SIGNAL(SIGBUS) FLOTILLA_SIGNAL(SIGFPE) FLOTILLA_SIGNAL(SIGKILL)
    FLOTILLA_SIGNAL(SIGUSR1) FLOTILLA_SIGNAL(SIGSEGV) FLOTILLA_SIGNAL(SIGUSR2)
    FLOTILLA_SIGNAL(SIGPIPE) FLOTILLA_SIGNAL(SIGALRM) FLOTILLA_SIGNAL(SIGTERM)
#ifdef SIGSTKFLT
    FLOTILLA_SIGNAL(SIGSTKFLT)
#endif
    FLOTILLA_SIGNAL(SIGCHLD) FLOTILLA_SIGNAL(SIGCONT) FLOTILLA_SIGNAL(SIGSTOP)
    FLOTILLA_SIGNAL(SIGTSTP) FLOTILLA_SIGNAL(SIGTTIN) FLOTILLA_SIGNAL(SIGTTOU)
    FLOTILLA_SIGNAL(SIGURG) FLOTILLA_SIGNAL(SIGXCPU) FLOTILLA_SIGNAL(SIGXFSZ)
    FLOTILLA_SIGNAL(SIGVTALRM) FLOTILLA_SIGNAL(SIGPROF)
    FLOTILLA_SIGNAL(SIGWINCH) FLOTILLA_SIGNAL(SIGIO) FLOTILLA_SIGNAL(SIGPWR)
    FLOTILLA_SIGNAL(SIGSYS) FLOTILLA_SIGNAL(SIGIOT) FLOTILLA_SIGNAL(SIGPOLL)
#undef FLOTILLA_SIGNAL
};

std::string SignalNameOf(int sig) {
  for (const auto& s : kSignals) {
    if (s.number == sig) return s.name;
  }
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
    return sig == SIGRTMIN ? "SIGRTMIN" : "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  }
  return "SIG" + std::to_string(sig);
}

// kill()'s argument: a name from the table, a signal number, or undefined
// (SIGTERM). Anything else is Node's ERR_UNKNOWN_SIGNAL.
int ParseSignal(Napi::Env env, const Napi::Value& v) {
  if (v.IsUndefined()) return SIGTERM;
  if (v.IsString()) {
    const std::string name = v.As<Napi::String>().Utf8Value();
    for (const auto& s : kSignals) {
      if (name == s.name) return s.number;
    }
    throw ArgError(env, "ERR_UNKNOWN_SIGNAL", "Unknown signal: " + name);
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= SIGRTMAX && static_cast<int>(d) == d) return static_cast<int>(d);
    throw ArgError(env, "ERR_UNKNOWN_SIGNAL",
                   "Unknown signal: " + v.ToString().Utf8Value());
  }
  throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                 "The \"signal\" argument must be of type string or number.");
}

// ---------------------------------------------------------------- state

// What the command's thread and the main thread (kill()) share.
struct Shared {
  Shared() = default;
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  ~Shared() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  std::mutex mu;
  bool group = false;       // the command leads a process group of its own
  pid_t pid = 0;            // 0 until the process exists
  bool reaped = false;      // waited for: the pid may be reused
  bool done = false;        // the thread has finished with the command
  bool killed = false;      // kill() was called with a real signal
  int pending_signal = 0;   // kill() before the process existed
  int wake_fd = -1;         // eventfd: kill() wakes the thread's poll()
};

// Marks the command finished: kill() does nothing from now on, and the
// eventfd is closed here rather than when the last reference (the JS kill
// function, until it is collected) lets go.
void Finish(Shared& s) {
  std::lock_guard<std::mutex> lock(s.mu);
  s.done = true;
  if (s.wake_fd >= 0) ::close(s.wake_fd);
  s.wake_fd = -1;
}

// Sends `sig` to the command (its group when it has one). Main thread.
bool SignalCommand(Shared& s, int sig) {
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.done) return false;
  if (sig != 0) {
    s.killed = true;
    uint64_t one = 1;
    ssize_t ignored = ::write(s.wake_fd, &one, sizeof one);
    (void)ignored;
  }
  if (s.pid == 0) {
    if (sig != 0) s.pending_signal = sig;
    return true;
  }
  // A group outlives its leader while any member is left (and its id cannot
  // be reused until then); a lone process is gone once reaped.
  if (s.group) return ::kill(-s.pid, sig) == 0;
  if (s.reaped) return false;
  return ::kill(s.pid, sig) == 0;
}

// Everything the command's thread owns.
struct Job {
  std::string file;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::optional<std::string> cwd;
  std::vector<uint8_t> input;
  std::shared_ptr<Shared> shared;
};

// From the thread to the main thread.
struct Message {
  enum Kind { kSpawned, kFailed, kExited } kind;
  pid_t pid = 0;
  // kFailed
  int err = 0;
  const char* syscall = "";
  std::string path;
  // kExited
  bool status_known = true;
  int status = 0;
  std::string out;
  std::string errout;
};

// The main thread's side: what settles the promise.
struct Context {
  explicit Context(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  Napi::FunctionReference on_spawn;
  Napi::ObjectReference command;  // to set `pid` on; released once set
  std::shared_ptr<Shared> shared;
  std::thread thread;
};

void CallJs(Napi::Env env, Napi::Function, Context* ctx, Message* raw);
using Tsfn = Napi::TypedThreadSafeFunction<Context, Message, CallJs>;

Napi::Object ResultObject(Napi::Env env, const Message& m) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("pid", Napi::Number::New(env, m.pid));
  const bool exited = m.status_known && WIFEXITED(m.status);
  const bool signaled = m.status_known && WIFSIGNALED(m.status);
  r.Set("code", exited ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(m.status)))
                       : env.Null());
  r.Set("signal", signaled ? Napi::Value(Napi::String::New(env, SignalNameOf(WTERMSIG(m.status))))
                           : env.Null());
  r.Set("stdout", Napi::Buffer<char>::Copy(env, m.out.data(), m.out.size()));
  r.Set("stderr", Napi::Buffer<char>::Copy(env, m.errout.data(), m.errout.size()));
  return r;
}

void CallJs(Napi::Env env, Napi::Function, Context* ctx, Message* raw) {
  std::unique_ptr<Message> m(raw);
  if (env == nullptr || m == nullptr) return;  // environment teardown
  switch (m->kind) {
    case Message::kSpawned: {
      if (!ctx->command.IsEmpty()) {
        ctx->command.Value().Set("pid", Napi::Number::New(env, m->pid));
        ctx->command.Reset();
      }
      if (!ctx->on_spawn.IsEmpty()) {
        Napi::FunctionReference cb = std::move(ctx->on_spawn);
        try {
          cb.Call({Napi::Number::New(env, m->pid)});
        } catch (const Napi::Error& e) {
          // Thrown by the callback: uncaught, as from an event listener.
          e.ThrowAsJavaScriptException();
        }
      }
      break;
    }
    case Message::kFailed:
      ctx->command.Reset();
      ctx->on_spawn.Reset();
      ctx->deferred.Reject(SystemError(env, m->err, m->syscall, m->path).Value());
      break;
    case Message::kExited:
      ctx->deferred.Resolve(ResultObject(env, *m));
      break;
  }
}

// ---------------------------------------------------------------- thread

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno;
  return 0;
}

// Reads what `fd` has into `into`, at most 1 MiB per call so that a command
// that never stops writing cannot keep the loop from noticing its exit or a
// kill(); closes `fd` at EOF or on an error.
void Drain(int& fd, std::string& into) {
  char buf[64 * 1024];
  for (int reads = 0; reads < 16; reads++) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof buf) return;  // likely empty now
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    CloseFd(fd);  // EOF, or an error no retry cures
    return;
  }
}

// A write to a pipe whose reader is gone raises SIGPIPE at this thread. Node
// ignores SIGPIPE, which discards it; if it is not ignored, it is blocked
// here (see RunCommandThread) and must not stay pending.
void DiscardSigpipe() {
  sigset_t pending;
  if (::sigpending(&pending) == 0 && ::sigismember(&pending, SIGPIPE) == 1) {
    sigset_t pipe_only;
    ::sigemptyset(&pipe_only);
    ::sigaddset(&pipe_only, SIGPIPE);
    const struct timespec zero = {0, 0};
    ::sigtimedwait(&pipe_only, nullptr, &zero);
  }
}

// Why posix_spawn failed: a missing or unusable `cwd` is the chdir's fault,
// not the file's (posix_spawn reports both the same way).
std::unique_ptr<Message> SpawnFailure(const Job& job, int err) {
  auto m = std::make_unique<Message>();
  m->kind = Message::kFailed;
  m->err = err;
  m->syscall = "posix_spawn";
  m->path = job.file;
  if (job.cwd && (err == ENOENT || err == ENOTDIR || err == EACCES)) {
    struct stat st;
    int cwd_err = 0;
    if (::stat(job.cwd->c_str(), &st) != 0) {
      cwd_err = errno;
    } else if (!S_ISDIR(st.st_mode)) {
      cwd_err = ENOTDIR;
    } else if (::access(job.cwd->c_str(), X_OK) != 0) {
      cwd_err = errno;
    }
    if (cwd_err != 0) {
      m->err = cwd_err;
      m->syscall = "chdir";
      m->path = *job.cwd;
    }
  }
  return m;
}

class Sender {
 public:
  explicit Sender(Tsfn tsfn) : tsfn_(tsfn) {}
  ~Sender() {
    if (!closed_) tsfn_.Release();
  }
  void Send(std::unique_ptr<Message> m) {
    if (closed_) return;
    // napi_closing: the environment is being torn down; the call released
    // this thread's use of the function, and nothing more may be sent.
    if (tsfn_.BlockingCall(m.get()) == napi_ok) {
      m.release();
    } else {
      closed_ = true;
    }
  }

 private:
  Tsfn tsfn_;
  bool closed_ = false;
};

// Spawns the command; returns 0 and the pid, or an errno value. Fills the
// parent's pipe ends in `in`/`out`/`err` (-1 on failure).
int Spawn(const Job& job, pid_t* pid, int* in, int* out, int* err,
          const char** failed_syscall) {
  int p_in[2] = {-1, -1}, p_out[2] = {-1, -1}, p_err[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fd : {&p_in[0], &p_in[1], &p_out[0], &p_out[1], &p_err[0], &p_err[1]}) CloseFd(*fd);
  };
  if (::pipe2(p_in, O_CLOEXEC) != 0 || ::pipe2(p_out, O_CLOEXEC) != 0 ||
      ::pipe2(p_err, O_CLOEXEC) != 0) {
    int e = errno;
    close_all();
    *failed_syscall = "pipe2";
    return e;
  }

  std::vector<char*> argv;
  for (const auto& a : job.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : job.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&fa);
  ::posix_spawnattr_init(&attr);
  int rc = 0;
  // dup2 clears O_CLOEXEC on the copies; the originals close at exec.
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&fa, p_in[0], 0);
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&fa, p_out[1], 1);
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&fa, p_err[1], 2);
  if (rc == 0 && job.cwd) rc = ::posix_spawn_file_actions_addchdir_np(&fa, job.cwd->c_str());
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Also whatever some library opened without O_CLOEXEC: nothing leaks into
  // a command that may leave a long-lived process behind (a shim).
  if (rc == 0) rc = ::posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (job.shared->group) flags |= POSIX_SPAWN_SETPGROUP;
  sigset_t empty, all;
  ::sigemptyset(&empty);
  ::sigfillset(&all);
  ::sigdelset(&all, SIGKILL);
  ::sigdelset(&all, SIGSTOP);
  if (rc == 0) rc = ::posix_spawnattr_setflags(&attr, flags);
  if (rc == 0) rc = ::posix_spawnattr_setsigmask(&attr, &empty);
  if (rc == 0) rc = ::posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0 && job.shared->group) rc = ::posix_spawnattr_setpgroup(&attr, 0);
  if (rc == 0) {
    rc = ::posix_spawn(pid, job.file.c_str(), &fa, &attr, argv.data(), envp.data());
  } else {
    *failed_syscall = "posix_spawn_file_actions";
  }
  ::posix_spawn_file_actions_destroy(&fa);
  ::posix_spawnattr_destroy(&attr);

  // The child's ends.
  CloseFd(p_in[0]);
  CloseFd(p_out[1]);
  CloseFd(p_err[1]);
  if (rc != 0) {
    close_all();
    return rc;
  }
  *in = p_in[1];
  *out = p_out[0];
  *err = p_err[0];
  // Only this side: the child's ends stay blocking.
  SetNonBlocking(*in);
  SetNonBlocking(*out);
  SetNonBlocking(*err);
  return 0;
}

void RunCommandThread(Job job, Tsfn tsfn) {
  Sender sender(tsfn);
  Shared& shared = *job.shared;

  pid_t pid = 0;
  int in = -1, out = -1, err = -1;
  const char* failed = "posix_spawn";
  if (int e = Spawn(job, &pid, &in, &out, &err, &failed)) {
    auto m = SpawnFailure(job, e);
    if (std::strcmp(failed, "posix_spawn") != 0) m->syscall = failed;
    Finish(shared);
    sender.Send(std::move(m));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(shared.mu);
    shared.pid = pid;
    if (shared.pending_signal != 0) {
      ::kill(shared.group ? -pid : pid, shared.pending_signal);
    }
  }
  {
    auto m = std::make_unique<Message>();
    m->kind = Message::kSpawned;
    m->pid = pid;
    sender.Send(std::move(m));
  }

  // Readable once the process has exited (Linux 5.3+); without it, poll in
  // short rounds and ask waitpid.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));

  auto result = std::make_unique<Message>();
  result->kind = Message::kExited;
  result->pid = pid;
  size_t written = 0;
  if (job.input.empty()) CloseFd(in);
  bool exited = false;

  auto reap = [&](int options) {
    std::lock_guard<std::mutex> lock(shared.mu);
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &status, options);
    } while (r < 0 && errno == EINTR);
    if (r == pid) {
      result->status = status;
    } else if (r < 0) {
      result->status_known = false;  // ECHILD: reaped by someone else
    } else {
      return;  // WNOHANG: still running
    }
    shared.reaped = true;
    exited = true;
  };

  for (;;) {
    bool killed;
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      killed = shared.killed;
    }
    if (exited && ((out < 0 && err < 0) || killed)) break;

    struct pollfd fds[5];
    nfds_t n = 0;
    auto add = [&](int fd, short events) -> int {
      if (fd < 0) return -1;
      fds[n] = {fd, events, 0};
      return static_cast<int>(n++);
    };
    const int i_wake = add(shared.wake_fd, POLLIN);
    const int i_pid = exited ? -1 : add(pidfd, POLLIN);
    const int i_in = add(in, POLLOUT);
    const int i_out = add(out, POLLIN);
    const int i_err = add(err, POLLIN);
    const int timeout = (!exited && pidfd < 0) ? 20 : -1;
    if (::poll(fds, n, timeout) < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ENOMEM) break;  // EFAULT/EINVAL: a bug
      continue;
    }
    if (i_wake >= 0 && fds[i_wake].revents != 0) {
      uint64_t count;
      ssize_t ignored = ::read(shared.wake_fd, &count, sizeof count);
      (void)ignored;
    }
    if (i_in >= 0 && fds[i_in].revents != 0) {
      ssize_t w = ::write(in, job.input.data() + written, job.input.size() - written);
      if (w > 0) {
        written += static_cast<size_t>(w);
        if (written == job.input.size()) CloseFd(in);
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        if (errno == EPIPE) DiscardSigpipe();
        CloseFd(in);  // the command stopped reading: the rest is dropped
      }
    }
    if (i_out >= 0 && fds[i_out].revents != 0) Drain(out, result->out);
    if (i_err >= 0 && fds[i_err].revents != 0) Drain(err, result->errout);
    if (!exited) {
      if (i_pid >= 0 && fds[i_pid].revents != 0) {
        reap(0);
      } else if (pidfd < 0) {
        reap(WNOHANG);
      }
    }
  }
  // Anything still open belongs to a descendant that outlived a kill(): take
  // what is already in the pipes, without waiting for more.
  if (out >= 0) Drain(out, result->out);
  if (err >= 0) Drain(err, result->errout);
  CloseFd(in);
  CloseFd(out);
  CloseFd(err);
  CloseFd(pidfd);
  if (!exited) reap(0);  // only after a poll() failure, which cannot happen
  Finish(shared);
  sender.Send(std::move(result));
}

// ---------------------------------------------------------------- JS side

std::vector<std::string> StringArray(Napi::Env env, const Napi::Value& v,
                                     const char* name) {
  if (!v.IsArray()) {
    throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                   std::string("The \"") + name + "\" argument must be an array of strings.");
  }
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) {
      throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                     std::string("The \"") + name + "\" argument must be an array of strings.");
    }
    out.push_back(CheckedString(env, e, name));
  }
  return out;
}

Napi::Value Kill(const Napi::CallbackInfo& info) {
  auto* shared = static_cast<std::shared_ptr<Shared>*>(info.Data());
  int sig = ParseSignal(info.Env(), info[0]);
  return Napi::Boolean::New(info.Env(), SignalCommand(**shared, sig));
}

Napi::Value RunCommand(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Job job;
  job.file = RequiredString(info, 0, "file");
  job.argv = StringArray(env, info[1], "argv");
  if (job.argv.empty()) {
    throw ArgError(env, "ERR_INVALID_ARG_VALUE",
                   "The \"argv\" argument must hold at least argv[0].");
  }
  job.env = StringArray(env, info[2], "env");
  job.shared = std::make_shared<Shared>();

  Napi::Value on_spawn;
  if (!info[3].IsUndefined()) {
    if (!info[3].IsObject() || info[3].IsArray()) {
      throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                     "The \"options\" argument must be of type object.");
    }
    Napi::Object o = info[3].As<Napi::Object>();
    Napi::Value cwd = o.Get("cwd");
    if (!cwd.IsUndefined() && !cwd.IsNull()) {
      if (!cwd.IsString()) {
        throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                       "The \"options.cwd\" property must be of type string.");
      }
      job.cwd = CheckedString(env, cwd, "options.cwd");
    }
    Napi::Value input = o.Get("stdin");
    if (!input.IsUndefined()) {
      if (!input.IsTypedArray() ||
          input.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                       "The \"options.stdin\" property must be a Uint8Array.");
      }
      auto bytes = input.As<Napi::Uint8Array>();
      job.input.assign(bytes.Data(), bytes.Data() + bytes.ElementLength());
    }
    Napi::Value group = o.Get("newProcessGroup");
    if (!group.IsUndefined()) {
      if (!group.IsBoolean()) {
        throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                       "The \"options.newProcessGroup\" property must be of type boolean.");
      }
      job.shared->group = group.As<Napi::Boolean>().Value();
    }
    on_spawn = o.Get("onSpawn");
    if (!on_spawn.IsUndefined() && !on_spawn.IsFunction()) {
      throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                     "The \"options.onSpawn\" property must be of type function.");
    }
  }

  job.shared->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (job.shared->wake_fd < 0) throw SystemError(env, errno, "eventfd", std::nullopt);

  auto* ctx = new Context(env);
  ctx->shared = job.shared;
  if (!on_spawn.IsEmpty() && on_spawn.IsFunction()) {
    ctx->on_spawn = Napi::Persistent(on_spawn.As<Napi::Function>());
  }
  Napi::Object command = Napi::Object::New(env);
  command.Set("pid", env.Undefined());
  command.Set("result", ctx->deferred.Promise());
  auto* kill_data = new std::shared_ptr<Shared>(job.shared);
  Napi::Function kill = Napi::Function::New(env, Kill, "kill", kill_data);
  kill.AddFinalizer([](Napi::Env, std::shared_ptr<Shared>* p) { delete p; }, kill_data);
  command.Set("kill", kill);
  ctx->command = Napi::Persistent(command);

  // Normally runs once the thread has released the function (after its last
  // message). At environment teardown it can run first: the command is then
  // killed so that the thread ends and can be joined.
  Tsfn tsfn = Tsfn::New(
      env, "flotilla.runCommand", 0, 1, ctx,
      [](Napi::Env, void*, Context* c) {
        SignalCommand(*c->shared, SIGKILL);
        if (c->thread.joinable()) c->thread.join();
        delete c;
      });

  // The thread starts with every signal blocked (signals are for the main
  // thread); the child gets an empty mask from posix_spawn.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    ctx->thread = std::thread(RunCommandThread, std::move(job), tsfn);
  } catch (const std::system_error& e) {
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    Finish(*ctx->shared);
    tsfn.Release();  // the finalizer deletes ctx
    throw SystemError(env, e.code().value(), "pthread_create", std::nullopt);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return command;
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("runCommand", Napi::Function::New(env, RunCommand, "runCommand"));
}

}  // namespace flotilla
