// Node-style system errors: errno -> code name, description, Error object.
#include "errors.h"

#include <cctype>
#include <cerrno>
#include <cstring>

namespace flotilla {

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(err)) return name;
  return "UNKNOWN";
#else
  switch (err) {
#define FLOTILLA_ERRNO(e) \
  case e:                 \
    return #e;
    FLOTILLA_ERRNO(EPERM)
    FLOTILLA_ERRNO(ENOENT)
    FLOTILLA_ERRNO(EINTR)
    FLOTILLA_ERRNO(EIO)
    FLOTILLA_ERRNO(ENXIO)
    FLOTILLA_ERRNO(EBADF)
    FLOTILLA_ERRNO(EAGAIN)
    FLOTILLA_ERRNO(ENOMEM)
    FLOTILLA_ERRNO(EACCES)
    FLOTILLA_ERRNO(EFAULT)
    FLOTILLA_ERRNO(ENOTBLK)
    FLOTILLA_ERRNO(EBUSY)
    FLOTILLA_ERRNO(EEXIST)
    FLOTILLA_ERRNO(EXDEV)
    FLOTILLA_ERRNO(ENODEV)
    FLOTILLA_ERRNO(ENOTDIR)
    FLOTILLA_ERRNO(EISDIR)
    FLOTILLA_ERRNO(EINVAL)
    FLOTILLA_ERRNO(EMFILE)
    FLOTILLA_ERRNO(ENOSPC)
    FLOTILLA_ERRNO(EROFS)
    FLOTILLA_ERRNO(ENAMETOOLONG)
    FLOTILLA_ERRNO(ELOOP)
    FLOTILLA_ERRNO(ENOSYS)
    FLOTILLA_ERRNO(EOPNOTSUPP)
#undef FLOTILLA_ERRNO
    default:
      return "UNKNOWN";
  }
#endif
}

std::string ErrnoDescription(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  // Thread-safe and not localized, unlike strerror().
  const char* desc = strerrordesc_np(err);
  std::string s = desc ? desc : "unknown error";
#else
  std::string s = std::strerror(err);
#endif
  // Node (libuv) words these in lower case: "operation not permitted".
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

Napi::Error SystemError(Napi::Env env, int err, const char* syscall,
                        const std::optional<std::string>& path,
                        const std::optional<std::string>& from) {
  const std::string code = ErrnoName(err);
  std::string message = code + ": " + ErrnoDescription(err) + ", " + syscall;
  if (from) message += " '" + *from + "' ->";
  if (path) message += " '" + *path + "'";

  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("errno", Napi::Number::New(env, -err));
  obj.Set("code", Napi::String::New(env, code));
  obj.Set("syscall", Napi::String::New(env, syscall));
  if (path) obj.Set("path", Napi::String::New(env, *path));
  return error;
}

Napi::Error ArgError(Napi::Env env, const char* code,
                     const std::string& message) {
  Napi::Error error = Napi::TypeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Error StateError(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_INVALID_STATE"));
  return error;
}

}  // namespace flotilla
