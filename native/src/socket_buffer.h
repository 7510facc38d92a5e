// A socket's send buffer, enlarged (see socket_buffer.cc).
#ifndef FLOTILLA_NATIVE_SOCKET_BUFFER_H_
#define FLOTILLA_NATIVE_SOCKET_BUFFER_H_

#include <napi.h>

namespace flotilla {

// Adds setSendBuffer to `exports`.
void InitSocketBuffer(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_SOCKET_BUFFER_H_
