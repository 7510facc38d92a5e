// Incremental SHA-256 with each update on the libuv thread pool.
//
//   sha256Hasher(): Sha256Hasher
//   sha256Update(hasher, pieces): Promise<void>
//   sha256Digest(hasher): string            (hex of everything so far)
//
// The content store hashes every byte it is given, and node:crypto's Hash
// does that on the main thread: 2.5 ms per MiB, most of what bounds an
// ingest. Here the update runs beside the write of the same bytes, each on a
// pool thread, and the main thread is free for the next message. The digest
// so far is read from a copy of the context, so hashing can go on after it.
//
// One update at a time per hasher: a second while one runs rejects with
// ERR_INVALID_STATE, as does sha256Digest during an update.
#include "sha256_stream.h"

#include <openssl/evp.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "errors.h"
#include "handle.h"
#include "queue_worker.h"

namespace flotilla {
namespace {

constexpr napi_type_tag kSha256Tag = {0x3d6b2f9e81c04a57ULL,
                                      0xb52e7c1a9f0d6384ULL};

struct Sha256Hasher {
  Sha256Hasher() : ctx(EVP_MD_CTX_new()) {
    if (ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
      EVP_MD_CTX_free(ctx);
      ctx = nullptr;
    }
  }
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  ~Sha256Hasher() { EVP_MD_CTX_free(ctx); }

  EVP_MD_CTX* ctx;
  bool busy = false;
};

struct Piece {
  const unsigned char* data;
  size_t size;
};

class UpdateWorker : public Napi::AsyncWorker {
 public:
  UpdateWorker(Napi::Env env, Napi::Value handle, Sha256Hasher* hasher,
               Napi::Array keep, std::vector<Piece> pieces)
      : Napi::AsyncWorker(env, "flotilla.sha256Update"),
        deferred_(Napi::Promise::Deferred::New(env)),
        handle_(Napi::Persistent(handle.As<Napi::Object>())),
        keep_(Napi::Persistent(keep.As<Napi::Object>())),
        hasher_(hasher),
        pieces_(std::move(pieces)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    for (const Piece& p : pieces_) {
      if (EVP_DigestUpdate(hasher_->ctx, p.data, p.size) != 1) {
        SetError("sha256: update failed");
        return;
      }
    }
  }

  void OnOK() override {
    hasher_->busy = false;
    deferred_.Resolve(Env().Undefined());
  }

  void OnError(const Napi::Error& e) override {
    hasher_->busy = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  // The hasher and the bytes stay alive until the pool is done with them.
  Napi::ObjectReference handle_;
  Napi::ObjectReference keep_;
  Sha256Hasher* hasher_;
  std::vector<Piece> pieces_;
};

Napi::Value NewHasher(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* hasher = new Sha256Hasher();
  if (hasher->ctx == nullptr) {
    delete hasher;
    throw Napi::Error::New(env, "sha256: cannot create a digest context");
  }
  return NewHandle(env, hasher, &kSha256Tag);
}

bool IsBytes(const Napi::Value& v) {
  return v.IsTypedArray() &&
         v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

Napi::Value Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return QueueWorker(env, [&] {
    auto* hasher = UnwrapHandle<Sha256Hasher>(env, info[0], &kSha256Tag,
                                              "a Sha256Hasher");
    // One Uint8Array or an array of them, hashed in order.
    Napi::Array keep = Napi::Array::New(env);
    std::vector<Piece> pieces;
    auto add = [&](const Napi::Value& v) {
      if (!IsBytes(v)) {
        throw ArgError(env, "ERR_INVALID_ARG_TYPE",
                       "The \"data\" argument must be a Uint8Array or an "
                       "array of them.");
      }
      auto bytes = v.As<Napi::Uint8Array>();
      keep.Set(keep.Length(), bytes);
      pieces.push_back({bytes.Data(), bytes.ByteLength()});
    };
    if (info[1].IsArray()) {
      auto list = info[1].As<Napi::Array>();
      for (uint32_t i = 0; i < list.Length(); ++i) add(list.Get(i));
    } else {
      add(info[1]);
    }
    if (hasher->busy) {
      throw StateError(env, "sha256: the previous update on this hasher is still running");
    }
    hasher->busy = true;
    auto* worker = new UpdateWorker(env, info[0], hasher, keep, std::move(pieces));
    return worker;
  });
}

Napi::Value Digest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* hasher = UnwrapHandle<Sha256Hasher>(env, info[0], &kSha256Tag,
                                            "a Sha256Hasher");
  if (hasher->busy) {
    throw StateError(env, "sha256: an update on this hasher is still running");
  }
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  bool ok = copy != nullptr && EVP_MD_CTX_copy_ex(copy, hasher->ctx) == 1 &&
            EVP_DigestFinal_ex(copy, md, &len) == 1;
  EVP_MD_CTX_free(copy);
  if (!ok) throw Napi::Error::New(env, "sha256: cannot finish the digest");
  static const char kHex[] = "0123456789abcdef";
  std::string hex(len * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHex[md[i] >> 4];
    hex[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return Napi::String::New(env, hex);
}

}  // namespace

void InitSha256(Napi::Env env, Napi::Object exports) {
  exports.Set("sha256Hasher", Napi::Function::New(env, NewHasher, "sha256Hasher"));
  exports.Set("sha256Update", Napi::Function::New(env, Update, "sha256Update"));
  exports.Set("sha256Digest", Napi::Function::New(env, Digest, "sha256Digest"));
}

}  // namespace flotilla
