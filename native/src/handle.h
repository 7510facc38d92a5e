// Opaque handles: a C++ object owned by a JS External, type-tagged so that a
// function given some other External (or a handle of another kind) throws a
// TypeError instead of reinterpreting memory. The object is deleted when the
// External is garbage collected; concerns that hold OS resources also offer
// an explicit close so nothing waits for GC.
#ifndef FLOTILLA_NATIVE_HANDLE_H_
#define FLOTILLA_NATIVE_HANDLE_H_

#include <napi.h>

#include <string>

#include "errors.h"

namespace flotilla {

template <typename T>
Napi::External<T> NewHandle(Napi::Env env, T* object,
                            const napi_type_tag* tag) {
  auto external = Napi::External<T>::New(
      env, object, [](Napi::Env, T* p) { delete p; });
  external.TypeTag(tag);
  return external;
}

// The object behind `v`, or a TypeError (ERR_INVALID_ARG_TYPE) naming `what`.
template <typename T>
T* UnwrapHandle(Napi::Env env, const Napi::Value& v, const napi_type_tag* tag,
                const char* what) {
  if (v.IsExternal()) {
    auto external = v.As<Napi::External<T>>();
    if (external.CheckTypeTag(tag)) return external.Data();
  }
  throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                 std::string("The argument must be ") + what + ".");
}

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_HANDLE_H_
