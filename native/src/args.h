// Argument checks shared by every concern: Node-style TypeErrors/RangeErrors
// (see ArgError in errors.h) thrown as Napi::Error, and a helper that turns
// one into a rejected Promise.
#ifndef FLOTILLA_NATIVE_ARGS_H_
#define FLOTILLA_NATIVE_ARGS_H_

#include <napi.h>

#include <optional>
#include <string>

namespace flotilla {

// A JS string without NUL bytes (Node rejects those before any syscall).
std::string CheckedString(Napi::Env env, const Napi::Value& v,
                          const char* name);

// info[i] as a string; ERR_INVALID_ARG_TYPE when it is not one.
std::string RequiredString(const Napi::CallbackInfo& info, size_t i,
                           const char* name);

// info[i] as a string, or nullopt for null/undefined.
std::optional<std::string> OptionalString(const Napi::CallbackInfo& info,
                                          size_t i, const char* name);

// A non-negative integer no larger than `max` (at most 2^53 - 1); undefined
// means `fallback` when one is given, else it is a type error.
double Integer(Napi::Env env, const Napi::Value& v, const char* name,
               double max, std::optional<double> fallback = std::nullopt);

// Integer(info[i], "flags", max, 0): the usual optional flags argument.
double Flags(const Napi::CallbackInfo& info, size_t i, double max);

// A Promise already rejected with `e`: Promise-returning functions report
// bad arguments as rejections too.
Napi::Value Rejected(Napi::Env env, const Napi::Error& e);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_ARGS_H_
