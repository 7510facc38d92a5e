// Streaming zstd, one call per input chunk, each run on the libuv thread pool.
//
//   zstdDecompressor(): ZstdStream
//   zstdCompressor(level?): ZstdStream
//   zstdTransform(stream, input, end): Promise<Buffer[]>
//
// A stream keeps libzstd's context between calls, so a layer arrives in
// whatever chunks the content store sends and leaves as output chunks of at
// most kOutputChunk bytes. `end` says no input follows: a compressor then
// writes the frame epilogue; a decompressor checks that the data stopped at a
// frame boundary (a truncated layer must fail, not look shorter). Several
// concatenated frames and skippable frames decode as one stream, as the OCI
// spec allows.
//
// One call at a time per stream: a second one while the first runs rejects
// with ERR_INVALID_STATE, as does any call after `end` or after an error
// (libzstd's context is then in no state to continue).
#include "zstd_stream.h"

#include <zstd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "errors.h"
#include "handle.h"
#include "queue_worker.h"

namespace flotilla {
namespace {

// Output chunks are allocated at this size and handed to JS without a copy;
// a mostly empty last chunk is shrunk first.
constexpr size_t kOutputChunk = 512 * 1024;

constexpr napi_type_tag kZstdTag = {0x8a1f5e0c3b7d4e21ULL,
                                    0x9c64d2f0a5e3b817ULL};

struct ZstdStream {
  explicit ZstdStream(bool compressing) : compress(compressing) {}
  ZstdStream(const ZstdStream&) = delete;
  ZstdStream& operator=(const ZstdStream&) = delete;
  ~ZstdStream() { Release(); }

  void Release() {
    ZSTD_freeDCtx(dctx);
    ZSTD_freeCCtx(cctx);
    dctx = nullptr;
    cctx = nullptr;
  }

  const bool compress;
  ZSTD_DCtx* dctx = nullptr;
  ZSTD_CCtx* cctx = nullptr;
  bool busy = false;
  bool done = false;
  // Decompression: whether the last frame seen was complete and flushed
  // (ZSTD_decompressStream returned 0); false before any frame.
  bool at_frame_end = false;
};

struct OutputChunk {
  char* data;
  size_t size;
};

class TransformWorker : public Napi::AsyncWorker {
 public:
  TransformWorker(Napi::Env env, Napi::Value handle, ZstdStream* stream,
                  Napi::Uint8Array input, bool end)
      : Napi::AsyncWorker(env, "flotilla.zstdTransform"),
        deferred_(Napi::Promise::Deferred::New(env)),
        handle_(Napi::Persistent(handle.As<Napi::Object>())),
        input_ref_(Napi::Persistent(input.As<Napi::Object>())),
        stream_(stream),
        input_(reinterpret_cast<const char*>(input.Data())),
        input_size_(input.ByteLength()),
        end_(end) {}

  ~TransformWorker() override {
    for (auto& c : chunks_) std::free(c.data);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    size_t r = stream_->compress ? Compress() : Decompress();
    if (ZSTD_isError(r)) {
      error_ = std::string("zstd: ") + ZSTD_getErrorName(r);
      return;
    }
    if (!error_.empty()) return;
    if (end_ && !stream_->compress && !stream_->at_frame_end) {
      error_ = "zstd: unexpected end of input (truncated frame)";
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    stream_->busy = false;
    if (!error_.empty()) {
      Finish();
      Napi::Error error = Napi::Error::New(env, error_);
      error.Value().Set("code", Napi::String::New(env, "ERR_ZSTD"));
      deferred_.Reject(error.Value());
      return;
    }
    if (end_) Finish();
    Napi::Array out = Napi::Array::New(env, chunks_.size());
    for (uint32_t i = 0; i < chunks_.size(); ++i) {
      OutputChunk c = chunks_[i];
      chunks_[i].data = nullptr;  // owned by the Buffer from here on
      out.Set(i, Napi::Buffer<char>::New(env, c.data, c.size,
                                         [](Napi::Env, char* p) { std::free(p); }));
    }
    chunks_.clear();
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    stream_->busy = false;
    Finish();
    deferred_.Reject(e.Value());
  }

 private:
  // Drop libzstd's context as soon as the stream cannot be used again,
  // rather than when the handle is collected.
  void Finish() {
    stream_->done = true;
    stream_->Release();
  }

  // The chunk to write into next, with room for at least one byte.
  OutputChunk* Room() {
    if (chunks_.empty() || chunks_.back().size == kOutputChunk) {
      char* data = static_cast<char*>(std::malloc(kOutputChunk));
      if (data == nullptr) return nullptr;
      chunks_.push_back({data, 0});
    }
    return &chunks_.back();
  }

  void ShrinkLast() {
    if (chunks_.empty()) return;
    OutputChunk& last = chunks_.back();
    if (last.size == 0) {
      std::free(last.data);
      chunks_.pop_back();
    } else if (last.size < kOutputChunk / 2) {
      if (char* smaller = static_cast<char*>(std::realloc(last.data, last.size))) {
        last.data = smaller;
      }
    }
  }

  size_t Decompress() {
    // Every earlier call ended with its output flushed, so without input
    // there is nothing to do; asking libzstd anyway would start a new frame
    // and lose track of whether the last one was complete.
    if (input_size_ == 0) return 0;
    ZSTD_inBuffer in{input_, input_size_, 0};
    for (;;) {
      OutputChunk* chunk = Room();
      if (chunk == nullptr) return OutOfMemory();
      ZSTD_outBuffer out{chunk->data, kOutputChunk, chunk->size};
      size_t in_before = in.pos;
      size_t r = ZSTD_decompressStream(stream_->dctx, &out, &in);
      if (ZSTD_isError(r)) return r;
      // A call that neither took input nor gave output (the last chunk was
      // filled exactly) only asks for the next frame's header: it says
      // nothing about the frame that just ended.
      if (in.pos != in_before || out.pos != chunk->size) stream_->at_frame_end = (r == 0);
      chunk->size = out.pos;
      // All input taken and room left over: libzstd holds nothing back.
      if (in.pos == in.size && out.pos < out.size) break;
    }
    ShrinkLast();
    return 0;
  }

  size_t Compress() {
    ZSTD_inBuffer in{input_, input_size_, 0};
    ZSTD_EndDirective mode = end_ ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      OutputChunk* chunk = Room();
      if (chunk == nullptr) return OutOfMemory();
      ZSTD_outBuffer out{chunk->data, kOutputChunk, chunk->size};
      size_t r = ZSTD_compressStream2(stream_->cctx, &out, &in, mode);
      if (ZSTD_isError(r)) return r;
      chunk->size = out.pos;
      // With e_end, 0 means the frame is complete; with e_continue, libzstd
      // may keep bytes buffered for the next call.
      if (end_ ? r == 0 : in.pos == in.size) break;
    }
    ShrinkLast();
    return 0;
  }

  size_t OutOfMemory() {
    error_ = "zstd: out of memory";
    return 0;
  }

  Napi::Promise::Deferred deferred_;
  // Keep the stream's handle and the input alive while the thread pool uses
  // them.
  Napi::ObjectReference handle_;
  Napi::ObjectReference input_ref_;
  ZstdStream* stream_;
  const char* input_;
  size_t input_size_;
  bool end_;
  std::vector<OutputChunk> chunks_;
  std::string error_;
};

Napi::Value NewDecompressor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* stream = new ZstdStream(false);
  stream->dctx = ZSTD_createDCtx();
  if (stream->dctx == nullptr) {
    delete stream;
    throw Napi::Error::New(env, "zstd: out of memory");
  }
  return NewHandle(env, stream, &kZstdTag);
}

Napi::Value NewCompressor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int level = ZSTD_CLEVEL_DEFAULT;
  if (!info[0].IsUndefined()) {
    if (!info[0].IsNumber()) {
      throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                     "The \"level\" argument must be of type number.");
    }
    double d = info[0].As<Napi::Number>().DoubleValue();
    if (d != static_cast<int>(d) || d < ZSTD_minCLevel() || d > ZSTD_maxCLevel()) {
      throw ArgError(env, "ERR_INVALID_ARG_VALUE",
                     "The \"level\" argument must be an integer from " +
                         std::to_string(ZSTD_minCLevel()) + " to " +
                         std::to_string(ZSTD_maxCLevel()) + ".");
    }
    level = static_cast<int>(d);
  }
  auto* stream = new ZstdStream(true);
  stream->cctx = ZSTD_createCCtx();
  if (stream->cctx == nullptr ||
      ZSTD_isError(ZSTD_CCtx_setParameter(stream->cctx, ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(stream->cctx, ZSTD_c_checksumFlag, 1))) {
    delete stream;
    throw Napi::Error::New(env, "zstd: cannot create a compression context");
  }
  return NewHandle(env, stream, &kZstdTag);
}

Napi::Value Transform(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto* stream = UnwrapHandle<ZstdStream>(env, info[0], &kZstdTag,
                                            "a ZstdStream");
    if (!info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                     "The \"input\" argument must be an instance of Buffer or "
                     "Uint8Array.");
    }
    if (!info[2].IsBoolean()) {
      throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                     "The \"end\" argument must be of type boolean.");
    }
    if (stream->done) throw StateError(env, "zstd: the stream has ended");
    if (stream->busy) {
      throw StateError(env, "zstd: the previous call on this stream is still running");
    }
    stream->busy = true;
    auto* worker = new TransformWorker(env, info[0], stream,
                                       info[1].As<Napi::Uint8Array>(),
                                       info[2].As<Napi::Boolean>().Value());
    return worker;
  });
}

}  // namespace

void InitZstd(Napi::Env env, Napi::Object exports) {
  exports.Set("zstdDecompressor",
              Napi::Function::New(env, NewDecompressor, "zstdDecompressor"));
  exports.Set("zstdCompressor",
              Napi::Function::New(env, NewCompressor, "zstdCompressor"));
  exports.Set("zstdTransform",
              Napi::Function::New(env, Transform, "zstdTransform"));
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("ZSTD_CLEVEL_DEFAULT", Napi::Number::New(env, ZSTD_CLEVEL_DEFAULT));
  constants.Set("ZSTD_MIN_CLEVEL", Napi::Number::New(env, ZSTD_minCLevel()));
  constants.Set("ZSTD_MAX_CLEVEL", Napi::Number::New(env, ZSTD_maxCLevel()));
  constants.Freeze();
  exports.Set("ZSTD", constants);
}

}  // namespace flotilla
