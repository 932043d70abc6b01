#ifndef CORRAL_SHIMS_H
#define CORRAL_SHIMS_H

// Syscalls and structures Glibc does not expose to Swift, or exposes in a shape Swift cannot use
// (packed structs, variadic calls, code that must run between clone and execve).
// Every function returns 0 or a positive errno value unless documented otherwise; none of them
// retries, the Swift layer (Platform/Syscall.swift) does.

#include <stdint.h>
#include <sys/types.h>
// Extended attributes (systemd marks delegated cgroups with one): not in the Glibc module.
#include <sys/xattr.h>

// Every pointer is non-null unless marked _Nullable (pointers to pointers say so outright:
// assume_nonnull does not reach them).
#pragma clang assume_nonnull begin

/// The step of a spawn that failed (`corral_spawn_result.failed_step`).
typedef enum __attribute__((enum_extensibility(closed))) {
    /// No child ran: the clone itself failed (or nothing failed).
    CORRAL_SPAWN_STEP_CLONE __attribute__((swift_name("clone"))) = 0,
    /// In the child: signals, session, descriptors or user.
    CORRAL_SPAWN_STEP_SETUP __attribute__((swift_name("setup"))) = 1,
    /// In the child: entering the working directory.
    CORRAL_SPAWN_STEP_CHDIR __attribute__((swift_name("chdir"))) = 2,
    /// In the child: execve.
    CORRAL_SPAWN_STEP_EXEC __attribute__((swift_name("exec"))) = 3,
    /// In the child: entering `cgroup_fd` by writing its `cgroup.procs`.
    CORRAL_SPAWN_STEP_CGROUP __attribute__((swift_name("cgroup"))) = 4,
    /// In corral, for a session in a pid namespace of its own: writing the user namespace's
    /// `uid_map`, `gid_map` or `setgroups`.
    CORRAL_SPAWN_STEP_USER_NAMESPACE __attribute__((swift_name("userNamespace"))) = 5,
    /// In the first process of the pid namespace: starting the namespace's init (corral's own
    /// binary, `/proc/self/exe`), or forking the agent.
    CORRAL_SPAWN_STEP_INIT __attribute__((swift_name("namespaceInit"))) = 6,
} corral_spawn_step __attribute__((swift_name("SpawnStep")));

/// How the child is created (see spawn.c). `corral_spawn_result.strategy` says which was used;
/// a request may force one so that tests run every path on any host.
typedef enum __attribute__((enum_extensibility(closed))) {
    /// The first that works here: vfork-style with its own descriptor table (clone3 into the
    /// cgroup on x86-64, else clone), else vfork-style with the whole table; fork-style when held.
    CORRAL_SPAWN_AUTOMATIC __attribute__((swift_name("automatic"))) = 0,
    /// vfork-style clone3 started inside `cgroup_fd` (CLONE_INTO_CGROUP), with a descriptor table
    /// of its own from the start (CLOSE_RANGE_UNSHARE). x86-64 only (ENOSYS elsewhere).
    CORRAL_SPAWN_VFORK_CLONE3 __attribute__((swift_name("vforkClone3"))) = 1,
    /// vfork-style clone that enters `cgroup_fd` itself (writing `cgroup.procs`), with a table of
    /// its own: other architectures, kernels before 5.7, a refused CLONE_INTO_CGROUP.
    CORRAL_SPAWN_VFORK_CLONE __attribute__((swift_name("vforkClone"))) = 2,
    /// vfork-style with a copy of the caller's whole descriptor table, which it closes: kernels
    /// before 5.9 (no CLOSE_RANGE_UNSHARE).
    CORRAL_SPAWN_VFORK_WHOLE_TABLE __attribute__((swift_name("vforkWholeTable"))) = 3,
    /// fork-style clone3 (a copy of the caller's memory), started inside `cgroup_fd`: what a
    /// held child gets, since its parent runs on while it waits.
    CORRAL_SPAWN_FORK __attribute__((swift_name("fork"))) = 4,
    /// fork-style clone, for a child without `cgroup_fd` where clone3 is filtered out (ENOSYS
    /// from a seccomp filter, as Docker's default one).
    CORRAL_SPAWN_FORK_CLONE __attribute__((swift_name("forkClone"))) = 5,
} corral_spawn_strategy __attribute__((swift_name("SpawnStrategy")));

/// What to start and how. The child becomes the leader of a new session and process group.
typedef struct {
    /// Absolute path of the executable (resolved by the caller: no PATH search in the child).
    const char *path;
    /// NULL-terminated argument vector.
    char *_Nullable const *_Nonnull argv;
    /// NULL-terminated environment, complete (nothing is inherited implicitly).
    char *_Nullable const *_Nonnull envp;
    /// Working directory, or NULL to keep the caller's.
    const char *_Nullable cwd;
    /// Becomes the child's fd 0.
    int stdin_fd;
    /// Becomes the child's fds 1 and 2.
    int output_fd;
    /// A cgroup v2 directory fd to start the child in, or -1: it is cloned into it
    /// (CLONE_INTO_CGROUP) or, where that cannot be done with a shared address space (not
    /// x86-64, kernels before 5.7), enters it itself before anything else.
    int cgroup_fd;
    /// An fd passed to the child as `inherit_target_fd`, or -1.
    int inherit_fd;
    int inherit_target_fd;
    /// When non-zero, the child stops right before execve until `corral_spawn_release`, so the
    /// caller can move it (e.g. into cgroups) before it runs any code of its own.
    int hold;
    /// When non-zero, the child drops to `uid`/`gid` with `groups` as supplementary groups
    /// (corral runs as root; the agent does not).
    int set_ids;
    uid_t uid;
    gid_t gid;
    /// NULL when `group_count` is 0.
    const gid_t *_Nullable groups;
    int group_count;
    /// `CORRAL_SPAWN_AUTOMATIC` but in tests. A held child is always forked (EINVAL otherwise).
    /// A forced strategy that cannot be had here fails (ENOSYS), it does not fall back.
    corral_spawn_strategy strategy;
} corral_spawn_request;

typedef struct {
    pid_t pid;
    /// A pidfd for the child, close-on-exec.
    int pidfd;
    /// 1 when the child started inside `cgroup_fd`.
    int in_cgroup;
    /// Which step failed in the child when the result is an errno from the child.
    corral_spawn_step failed_step;
    /// How the child was created.
    corral_spawn_strategy strategy;
    /// For a held child: the pipe ends `corral_spawn_release` / `corral_spawn_abort` use.
    int release_fd;
    int report_fd;
    /// The child's start time (field 22 of /proc/PID/stat, clock ticks after boot) as the
    /// vfork-style child read it itself before execve, or 0. Read from outside while the child
    /// is still in execve, /proc/PID/stat waits until execve is done (about 1 ms of the kernel
    /// loading the program, measured on the development host).
    unsigned long long start_time;
} corral_spawn_result;

/// Starts a process per `request`. On success returns 0 once the child has called execve (or,
/// with `hold`, once it waits before execve). If the child failed before execve, it has been
/// reaped and its errno is returned with `failed_step` set. If entering `cgroup_fd` is refused
/// (clone3 with CLONE_INTO_CGROUP: `failed_step` clone; the child's own move: cgroup), nothing is
/// left running, so the caller can fall back.
int corral_spawn(const corral_spawn_request *request, corral_spawn_result *result);

/// Asks the kernel for the shortest scheduler slice for the calling thread (Linux 6.12; older
/// kernels ignore it), so that it preempts a process it has just started when it wakes up.
/// For threads that start agents; every child gives the default slice back before execve.
/// 0 or an errno (EPERM for a real-time thread, which is left as it is).
int corral_thread_shorten_slice(void);

/// Renames `from` (in `from_directory`) to `to` (in `to_directory`) unless `to` exists
/// (renameat2 with RENAME_NOREPLACE). 0 or an errno (EEXIST when `to` is taken).
int corral_rename_noreplace(int from_directory, const char *from, int to_directory, const char *to);

/// Lets a held child continue to execve and waits for the outcome, like `corral_spawn`.
int corral_spawn_release(corral_spawn_result *result);

/// Kills and reaps a held child that must not run.
void corral_spawn_abort(corral_spawn_result *result);

/// What a session in a pid namespace of its own gets besides `corral_spawn_request`
/// (pid_namespace.c).
typedef struct {
    /// Non-zero: the namespace also gets a user namespace (corral without CAP_SYS_ADMIN), whose
    /// maps corral writes before the child goes on.
    int new_user_namespace;
    /// `uid_map` and `gid_map` contents, lines of "inside outside count"; NULL without a user
    /// namespace.
    const char *_Nullable uid_map;
    const char *_Nullable gid_map;
    /// Non-zero: "deny" is written to `setgroups` before `gid_map` (a map written without
    /// CAP_SETGID needs it; the agent then cannot set supplementary groups).
    int deny_setgroups;
    /// The init's complete environment (corral's tags, so that the init is known as the
    /// session's), NULL-terminated.
    char *_Nullable const *_Nonnull init_envp;
    /// How long the init gives the rest of the namespace after SIGTERM once the agent has
    /// exited by itself, before it exits (and the kernel kills what is left).
    uint32_t grace_ms;
} corral_namespace_request;

/// Starts `request`'s agent in a pid namespace of its own (and a user namespace, if asked),
/// under an init that is PID 1 there: a fork of corral that forks the agent and then becomes
/// corral's own binary run as `corral-session-init` (namespace_init.c). `result` describes the
/// init, which is corral's child. Returns like `corral_spawn` once both have called execve.
/// `request` may not hold or name a cgroup (EINVAL).
int corral_spawn_in_pid_namespace(
    const corral_spawn_request *request, const corral_namespace_request *namespace_request, corral_spawn_result *result);

/// Whether a pid namespace (with a user namespace and its maps, if asked) can be made here:
/// a child is cloned into one, given its maps, and reaped. Returns 0 or the errno, with
/// `failed_step` clone (the clone was refused) or userNamespace (a map was).
int corral_probe_pid_namespace(const corral_namespace_request *namespace_request, corral_spawn_step *failed_step);

int corral_pidfd_open(pid_t pid, int *pidfd_out);
int corral_pidfd_send_signal(int pidfd, int signal);

/// Reaps `pidfd`'s process if it has exited. `exited` is 0 when it is still running;
/// otherwise `code` is CLD_EXITED/CLD_KILLED/CLD_DUMPED and `status` the exit status or signal.
int corral_waitid_pidfd(int pidfd, int *exited, int *code, int *status);

/// Like `corral_waitid_pidfd` for a child pid, or any child with pid -1 and `peek_only` set
/// (WNOWAIT: the zombie stays). `pid_out` is the child's pid, 0 when none has exited.
int corral_waitid_pid(pid_t pid, int peek_only, pid_t *pid_out, int *code, int *status);

int corral_set_child_subreaper(void);

/// Forks a child that (as `uid`/`gid` when `set_ids`) writes `0` to `procs_fd`, a `cgroup.procs`
/// opened by the caller, as a template's fork joins its session's cgroup; waits for it. Returns 0
/// when it joined, else the errno the child met.
int corral_probe_fork_join(int procs_fd, int set_ids, uid_t uid, gid_t gid);

/// Installs a SIGCHLD handler that writes to `eventfd` (an eventfd) each time a child changes state.
int corral_install_sigchld_notifier(int eventfd);

/// A close-on-exec, non-blocking eventfd; returns the fd or -errno.
int corral_eventfd(void);
/// A close-on-exec epoll instance; returns the fd or -errno.
int corral_epoll_create(void);

/// epoll with a 64-bit token per fd (struct epoll_event is packed on x86_64, which Swift cannot import).
int corral_epoll_add(int epfd, int fd, uint64_t token);
int corral_epoll_remove(int epfd, int fd);
/// Returns the number of tokens written (>= 0) or -errno.
int corral_epoll_wait(int epfd, uint64_t *tokens, int max_tokens, int timeout_ms);

/// A close-on-exec, non-blocking inotify instance; returns the fd or -errno.
int corral_inotify_init(void);
/// Watches `path` for modification (cgroup.events changes); returns the watch descriptor or -errno.
int corral_inotify_watch_modify(int fd, const char *path);
int corral_inotify_unwatch(int fd, int watch);
/// Reads and discards pending inotify events.
void corral_inotify_drain(int fd);

/// Unix datagram socket bound to `path` (a leading '@' means the abstract namespace) with
/// SO_PASSCRED, so every datagram carries its sender's pid.
int corral_notify_socket_open(const char *path, int *fd_out);
/// Receives one datagram without blocking. Returns 0 with `*length` bytes in `buffer`
/// and the sender's pid (0 if unknown); EAGAIN when nothing is queued.
int corral_notify_socket_receive(int fd, char *buffer, size_t capacity, size_t *length, pid_t *sender);
/// Sends one datagram to the notify socket at `path` (a leading '@' means the abstract
/// namespace), from a socket of its own, never waiting for room in its queue. Returns 0 or an
/// errno (EAGAIN when the manager does not read).
int corral_notify_send(const char *path, const char *message, size_t length);

/// The most descriptors one control-channel datagram carries.
#define CORRAL_MAX_PASSED_FDS 8

/// A SOCK_SEQPACKET socket pair, both ends close-on-exec, corral's end non-blocking.
int corral_seqpacket_pair(int *corral_end, int *agent_end);
/// Sends one datagram with `fd_count` descriptors (SCM_RIGHTS), never blocking (EAGAIN when
/// the peer does not read). EMSGSIZE when it could not go whole.
int corral_send_with_fds(int fd, const void *bytes, size_t length, const int *_Nullable fds, int fd_count);
/// Receives one datagram without blocking, its descriptors close-on-exec into `fds` (at most
/// `max_fds`; any more are closed). `*length` 0 is the end of the stream. `*truncated` is set
/// when the datagram or its descriptors did not fit. EAGAIN when nothing is queued.
int corral_receive_with_fds(int fd, void *buffer, size_t capacity, size_t *length, int *fds, int max_fds, int *fd_count,
                            int *truncated);

#pragma clang assume_nonnull end

#endif
