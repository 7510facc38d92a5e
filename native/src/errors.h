// Node-style system errors, shared by every concern of the addon.
//
// A failed syscall rejects with an Error shaped like Node's fs errors:
//   message  "EPERM: operation not permitted, mount 'overlay' -> '/x'"
//   errno    -1            (negated, as Node does)
//   code     "EPERM"
//   syscall  "mount"
//   path     "/x"
#ifndef FLOTILLA_NATIVE_ERRORS_H_
#define FLOTILLA_NATIVE_ERRORS_H_

#include <napi.h>

#include <optional>
#include <string>

namespace flotilla {

// Symbolic name of an errno value ("EPERM"); "UNKNOWN" when it has none.
std::string ErrnoName(int err);

// Lower-case description of an errno value ("operation not permitted").
std::string ErrnoDescription(int err);

// The Error described above. `path` becomes the `path` property and ends the
// message; `from`, when given, is shown before it: "mount 'from' -> 'path'".
Napi::Error SystemError(Napi::Env env, int err, const char* syscall,
                        const std::optional<std::string>& path,
                        const std::optional<std::string>& from = std::nullopt);

// A TypeError carrying Node's argument-validation `code`
// ("ERR_INVALID_ARG_TYPE", "ERR_INVALID_ARG_VALUE").
Napi::Error ArgError(Napi::Env env, const char* code,
                     const std::string& message);

// An Error with code ERR_INVALID_STATE: a handle used when it cannot be (a
// call still running on it, or after it was closed or failed).
Napi::Error StateError(Napi::Env env, const std::string& message);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_ERRORS_H_
