// Argument checks shared by every concern.
#include "args.h"

#include <cmath>

#include "errors.h"

namespace flotilla {

std::string CheckedString(Napi::Env env, const Napi::Value& v,
                          const char* name) {
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) {
    throw ArgError(env, "ERR_INVALID_ARG_VALUE",
                   std::string("The argument '") + name +
                       "' must be a string without null bytes.");
  }
  return s;
}

std::string RequiredString(const Napi::CallbackInfo& info, size_t i,
                           const char* name) {
  if (!info[i].IsString()) {
    throw ArgError(info.Env(), "ERR_INVALID_ARG_TYPE",
                   std::string("The \"") + name +
                       "\" argument must be of type string.");
  }
  return CheckedString(info.Env(), info[i], name);
}

std::optional<std::string> OptionalString(const Napi::CallbackInfo& info,
                                          size_t i, const char* name) {
  if (info[i].IsNull() || info[i].IsUndefined()) return std::nullopt;
  if (!info[i].IsString()) {
    throw ArgError(info.Env(), "ERR_INVALID_ARG_TYPE",
                   std::string("The \"") + name +
                       "\" argument must be of type string, null or undefined.");
  }
  return CheckedString(info.Env(), info[i], name);
}

double Integer(Napi::Env env, const Napi::Value& v, const char* name,
               double max, std::optional<double> fallback) {
  if (v.IsUndefined() && fallback) return *fallback;
  if (!v.IsNumber()) {
    throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                   std::string("The \"") + name +
                       "\" argument must be of type number.");
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 0 || d > max || std::trunc(d) != d) {
    throw ArgError(env, "ERR_INVALID_ARG_VALUE",
                   std::string("The \"") + name +
                       "\" argument must be a non-negative integer.");
  }
  return d;
}

double Flags(const Napi::CallbackInfo& info, size_t i, double max) {
  return Integer(info.Env(), info[i], "flags", max, 0);
}

Napi::Value Rejected(Napi::Env env, const Napi::Error& e) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(e.Value());
  return deferred.Promise();
}

}  // namespace flotilla
