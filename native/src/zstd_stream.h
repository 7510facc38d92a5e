// Streaming zstd compression and decompression on the libuv thread pool
// (Node 20's zlib has no zstd), linked against the system's libzstd.
#ifndef FLOTILLA_NATIVE_ZSTD_STREAM_H_
#define FLOTILLA_NATIVE_ZSTD_STREAM_H_

#include <napi.h>

namespace flotilla {

// Adds zstdDecompressor, zstdCompressor, zstdTransform and ZSTD to `exports`.
void InitZstd(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_ZSTD_STREAM_H_
