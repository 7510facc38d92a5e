// Incremental SHA-256 whose updates run on the libuv thread pool, with
// Node's own OpenSSL (its symbols are exported to addons).
#ifndef FLOTILLA_NATIVE_SHA256_STREAM_H_
#define FLOTILLA_NATIVE_SHA256_STREAM_H_

#include <napi.h>

namespace flotilla {

// Adds sha256Hasher, sha256Update and sha256Digest to `exports`.
void InitSha256(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_SHA256_STREAM_H_
