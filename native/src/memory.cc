// reclaimMemory(): a memory-reducing collection of the V8 heap, then malloc_trim(3).
//
//   reclaimMemory(): { rssBefore: number, rssAfter: number }   (bytes, from /proc/self/statm)
//
// Why: a Flotilla process grows its young generation to 16 MiB semi-spaces under load, and glibc keeps the
// arenas that I/O buffers came from. Neither is given back on its own while the process idles: V8's memory
// reducer only starts after a mark-compact, which a process with a large old-space limit rarely needs, and
// glibc trims only the top of the main arena. Go runtimes return such memory with their scavenger; this is
// the same thing, asked for once when a process falls idle. It must run on the JS thread (it is a GC), so
// it is synchronous; it costs a few milliseconds on a heap of tens of MiB.
//
// It reaches the V8 API directly (the isolate of the calling thread): Node-API has no way to ask for a
// memory-reducing collection. The addon is built against the running Node's headers, so this is safe.
#include "memory.h"

#include <malloc.h>
#include <unistd.h>
#include <v8.h>

#include <cstdio>

namespace flotilla {
namespace {

double ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return -1;
  long size = 0, resident = 0;
  int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  if (n != 2) return -1;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

Napi::Value ReclaimMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double before = ResidentBytes();
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  // Several full collections until nothing more is freed, then the young generation shrunk and the freed
  // pages unmapped: what V8 does for a backgrounded browser tab.
  if (isolate != nullptr) isolate->LowMemoryNotification();
  malloc_trim(0);
  Napi::Object out = Napi::Object::New(env);
  out.Set("rssBefore", before);
  out.Set("rssAfter", ResidentBytes());
  return out;
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("reclaimMemory", Napi::Function::New(env, ReclaimMemory, "reclaimMemory"));
}

}  // namespace flotilla
