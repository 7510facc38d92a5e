// setSendBuffer(fd, bytes): the send buffer of a connected socket, enlarged.
//
//   setSendBuffer(fd, bytes): number      (the size the kernel granted)
//
// Why: a Unix stream socket carries at most its sender's buffer in flight,
// 208 KiB by default. A process relaying a 1 MiB message over one (the gateway
// passing a layer's bytes to the content process) then writes a fifth of it,
// waits for the socket to drain, gets back to it when its event loop next
// turns, and so on: the message took 10-15 ms to cross while the reader sat
// idle between bursts. With a buffer larger than the message, it is handed to
// the kernel at once and the reader takes it at its own pace.
//
// SO_SNDBUFFORCE goes past net.core.wmem_max for a process with CAP_NET_ADMIN
// (the daemon runs as root); without it SO_SNDBUF is clamped to that limit.
// The kernel doubles the value for its own bookkeeping, as socket(7) says, and
// reports the doubled size. A synchronous call: it never blocks.
#include "socket_buffer.h"

#include <sys/socket.h>

#include <cerrno>

#include "args.h"
#include "errors.h"

namespace flotilla {
namespace {

Napi::Value SetSendBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(Integer(env, info[0], "fd", 2147483647.0));
  // Half of INT_MAX at most: the kernel doubles it into an int.
  int bytes = static_cast<int>(Integer(env, info[1], "bytes", 1073741823.0));
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) {
    if (errno != EPERM || ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0) {
      throw SystemError(env, errno, "setsockopt", std::nullopt);
    }
  }
  int granted = 0;
  socklen_t len = sizeof granted;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &granted, &len) != 0) {
    throw SystemError(env, errno, "getsockopt", std::nullopt);
  }
  return Napi::Number::New(env, granted);
}

}  // namespace

void InitSocketBuffer(Napi::Env env, Napi::Object exports) {
  exports.Set("setSendBuffer", Napi::Function::New(env, SetSendBuffer, "setSendBuffer"));
}

}  // namespace flotilla
