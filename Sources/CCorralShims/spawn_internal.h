#ifndef CORRAL_SPAWN_INTERNAL_H
#define CORRAL_SPAWN_INTERNAL_H

// The parts of spawn.c that the pid-namespace spawn (pid_namespace.c) runs too. Not part of the
// module Swift sees. Everything named corral_child_* runs in a child before execve: raw
// syscalls only, no allocation, no locks.

#include "corral_shims.h"

#pragma clang assume_nonnull begin

/// Reports `step` and errno on `pipe_fd`, then exits 127.
__attribute__((visibility("hidden"), noreturn)) void corral_child_fail(int pipe_fd, corral_spawn_step step);

/// `fd`, or a close-on-exec copy of it above every number the agent gets (0-2, the inherited
/// descriptor's target) if it is one of them.
__attribute__((visibility("hidden"))) int corral_child_off_targets(const corral_spawn_request *request, int fd, int pipe_fd);

/// Closes every descriptor from `first` on but the `count` in `keep` (-1 for none); sorts `keep`.
__attribute__((visibility("hidden"))) void corral_child_close_all_but(int first, int *keep, int count);

/// The agent's side of a spawn: signals reset, a session of its own, descriptors, user,
/// directory, execve. Reports a failure on `pipe_fd` and exits 127.
__attribute__((visibility("hidden"), noreturn)) void corral_child_exec(const corral_spawn_request *request, int pipe_fd);

/// Waits for the child's report on `result->report_fd` (EOF: execve happened); on a failure,
/// reaps the child and returns the errno with `failed_step` set.
__attribute__((visibility("hidden"))) int corral_await_exec(corral_spawn_result *result);

/// In a child: the default scheduler slice back if it inherited the spawner's short one
/// (short_slice.c).
__attribute__((visibility("hidden"))) void corral_child_default_slice(void);

/// argv[0] of a pid namespace's init: corral's binary started under this name as PID 1 runs
/// the init (namespace_init.c) and nothing else.
#define CORRAL_NAMESPACE_INIT_NAME "corral-session-init"

#pragma clang assume_nonnull end

#endif
