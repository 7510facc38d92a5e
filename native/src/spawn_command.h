// runCommand: run a program to completion with posix_spawn, off the main
// thread, collecting its output (see spawn_command.cc). Named so that
// <spawn.h> stays the C library's.
#ifndef FLOTILLA_NATIVE_SPAWN_COMMAND_H_
#define FLOTILLA_NATIVE_SPAWN_COMMAND_H_

#include <napi.h>

namespace flotilla {

// Adds runCommand to `exports`.
void InitSpawn(Napi::Env env, Napi::Object exports);

}  // namespace flotilla

#endif  // FLOTILLA_NATIVE_SPAWN_COMMAND_H_
