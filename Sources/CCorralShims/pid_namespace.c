// Starting a session in a pid namespace of its own, for hosts where corral cannot make cgroups
// (an unprivileged container). When the first process of a pid namespace exits, the kernel kills
// every other process in it: no setsid() or double fork gets out, and no privilege is needed
// beyond a user namespace.
//
// corral clones the namespace's first process fork-style (clone3, or clone where a seccomp
// filter answers clone3 with ENOSYS) with CLONE_NEWPID, and CLONE_NEWUSER where corral lacks
// CAP_SYS_ADMIN. That child waits on a pipe while corral writes the user namespace's maps (a
// process cannot map itself with more than its own id), then:
//   1. becomes the leader of a session of its own;
//   2. vforks the agent, which goes on as any agent does (spawn.c's child_exec): a session and
//      process group of its own, its descriptors, its user, execve;
//   3. keeps /dev/null and the session log as its stdio, closes the rest, and execs corral's own
//      binary (/proc/self/exe) as `corral-session-init`, which runs namespace_init.c's loop.
// The exec lets go of the copy of corral's memory the fork made: the init holds none of corral's
// pages (nor the secrets in them) for the session's lifetime.
//
// Both execs close the report pipe (close-on-exec), so corral learns of either failing as
// with any spawn; the init, once it runs, exits when the agent has.
#define _GNU_SOURCE
#include "corral_shims.h"
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

struct namespace_clone_args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
    uint64_t set_tid;
    uint64_t set_tid_size;
    uint64_t cgroup;
};

// Fork-style into new namespaces, with a pidfd. Returns 0 in the child, which goes on from here on
// a copy of this stack.
static pid_t clone_into_namespaces(const corral_namespace_request *namespace_request, int *pidfd, corral_spawn_strategy *used) {
    uint64_t flags = CLONE_NEWPID | (namespace_request->new_user_namespace ? CLONE_NEWUSER : 0);
    struct namespace_clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = flags | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    *used = CORRAL_SPAWN_FORK;
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0 && errno == ENOSYS) {
        // The pidfd comes back through the parent-tid argument, third on every architecture
        // corral is built for.
        *used = CORRAL_SPAWN_FORK_CLONE;
        pid = (pid_t)syscall(SYS_clone, (unsigned long)(flags | CLONE_PIDFD | SIGCHLD), NULL, pidfd, NULL, NULL);
    }
    return pid;
}

static int write_proc_file(pid_t pid, const char *name, const char *text) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    size_t length = strlen(text);
    ssize_t written;
    do {
        written = write(fd, text, length);
    } while (written < 0 && errno == EINTR);
    int result = written == (ssize_t)length ? 0 : written < 0 ? errno : EIO;
    close(fd);
    return result;
}

// Gives the child's user namespace its maps (from corral, in the parent namespace: only a process
// there may map ids other than the child's own).
static int write_maps(pid_t pid, const corral_namespace_request *namespace_request) {
    if (!namespace_request->new_user_namespace) return 0;
    int result = 0;
    if (namespace_request->deny_setgroups) result = write_proc_file(pid, "setgroups", "deny");
    if (result == 0 && namespace_request->uid_map != NULL) result = write_proc_file(pid, "uid_map", namespace_request->uid_map);
    if (result == 0 && namespace_request->gid_map != NULL) result = write_proc_file(pid, "gid_map", namespace_request->gid_map);
    return result;
}

// Waits for corral's byte on `hold_fd`; EOF without one means "do not run".
static void wait_for_release(int hold_fd) {
    char go = 0;
    ssize_t got;
    do {
        got = read(hold_fd, &go, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) _exit(127);
    close(hold_fd);
}

// Writes `value` in decimal into `text` (room for 11 characters and the NUL).
static void format_decimal(uint32_t value, char text[12]) {
    char digits[12];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    for (int i = 0; i < count; i++) text[i] = digits[count - 1 - i];
    text[count] = 0;
}

// The namespace's first process (PID 1 there), a fork of corral: raw syscalls, no allocation.
__attribute__((noreturn)) static void namespace_first_main(
    const corral_spawn_request *request, const corral_namespace_request *namespace_request, int report_fd, int hold_fd) {
    // Nothing of corral's stays open here while it waits (other spawns' report pipes among them:
    // those spawns wait for their pipe's last writer to go).
    int keep[5] = {report_fd, hold_fd, request->stdin_fd, request->output_fd, request->inherit_fd};
    corral_child_close_all_but(3, keep, 5);
    wait_for_release(hold_fd);
    if (setsid() < 0) corral_child_fail(report_fd, CORRAL_SPAWN_STEP_INIT);

    // vfork: this process shares nothing with corral's threads, and the agent's side borrows its
    // memory only until its execve.
    pid_t agent = vfork();
    if (agent == 0) corral_child_exec(request, report_fd);
    if (agent < 0) corral_child_fail(report_fd, CORRAL_SPAWN_STEP_INIT);
    // If the agent failed before its execve, it has reported so; the init below finds it gone
    // and exits at once.

    report_fd = corral_child_off_targets(request, report_fd, report_fd);
    int stdin_fd = corral_child_off_targets(request, request->stdin_fd, report_fd);
    int output_fd = corral_child_off_targets(request, request->output_fd, report_fd);
    if (dup2(stdin_fd, 0) < 0 || dup2(output_fd, 1) < 0 || dup2(output_fd, 2) < 0) corral_child_fail(report_fd, CORRAL_SPAWN_STEP_INIT);
    // The prewarmed agent's assignment channel goes too: its end must close when the agent does.
    int kept[1] = {report_fd};
    corral_child_close_all_but(3, kept, 1);

    // Handlers do not survive execve, "ignore" does (SIGCHLD ignored would lose every exit); the
    // mask stays full: the init takes its signals with sigtimedwait.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        (void)sigaction(sig, &dfl, NULL);
    }

    char agent_text[12];
    char grace_text[12];
    format_decimal((uint32_t)agent, agent_text);
    format_decimal(namespace_request->grace_ms, grace_text);
    char *argv[] = {(char *)CORRAL_NAMESPACE_INIT_NAME, agent_text, grace_text, NULL};
    corral_child_default_slice();
    execve("/proc/self/exe", argv, namespace_request->init_envp);
    // The agent may run already: it dies with this process, the namespace's first.
    corral_child_fail(report_fd, CORRAL_SPAWN_STEP_INIT);
}

int corral_spawn_in_pid_namespace(
    const corral_spawn_request *request, const corral_namespace_request *namespace_request, corral_spawn_result *result) {
    memset(result, 0, sizeof(*result));
    result->pidfd = -1;
    result->release_fd = -1;
    result->report_fd = -1;
    if (request->hold || request->cgroup_fd >= 0) return EINVAL;

    int report_fds[2];
    if (pipe2(report_fds, O_CLOEXEC) != 0) return errno;
    int hold_fds[2];
    if (pipe2(hold_fds, O_CLOEXEC) != 0) {
        int saved = errno;
        close(report_fds[0]);
        close(report_fds[1]);
        return saved;
    }

    // The child starts with every signal blocked and keeps them so: the init waits for them.
    sigset_t all, saved_mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_mask);
    int pidfd = -1;
    pid_t pid = clone_into_namespaces(namespace_request, &pidfd, &result->strategy);
    if (pid == 0) {
        close(report_fds[0]);
        close(hold_fds[1]);
        namespace_first_main(request, namespace_request, report_fds[1], hold_fds[0]);
    }
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
    close(report_fds[1]);
    close(hold_fds[0]);
    if (pid < 0) {
        close(report_fds[0]);
        close(hold_fds[1]);
        result->failed_step = CORRAL_SPAWN_STEP_CLONE;
        return clone_errno;
    }
    result->pid = pid;
    result->pidfd = pidfd;
    result->report_fd = report_fds[0];

    int mapped = write_maps(pid, namespace_request);
    if (mapped == 0) {
        char go = 1;
        ssize_t written;
        do {
            written = write(hold_fds[1], &go, 1);
        } while (written < 0 && errno == EINTR);
    }
    // Without the byte the child exits before it has done anything.
    close(hold_fds[1]);
    if (mapped != 0) {
        close(result->report_fd);
        result->report_fd = -1;
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (result->pidfd >= 0) close(result->pidfd);
        result->pidfd = -1;
        result->failed_step = CORRAL_SPAWN_STEP_USER_NAMESPACE;
        return mapped;
    }
    return corral_await_exec(result);
}

int corral_probe_pid_namespace(const corral_namespace_request *namespace_request, corral_spawn_step *failed_step) {
    *failed_step = CORRAL_SPAWN_STEP_CLONE;
    int hold_fds[2];
    if (pipe2(hold_fds, O_CLOEXEC) != 0) return errno;
    sigset_t all, saved_mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_mask);
    int pidfd = -1;
    corral_spawn_strategy used;
    pid_t pid = clone_into_namespaces(namespace_request, &pidfd, &used);
    if (pid == 0) {
        close(hold_fds[1]);
        char go = 0;
        while (read(hold_fds[0], &go, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
    }
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
    close(hold_fds[0]);
    if (pid < 0) {
        close(hold_fds[1]);
        return clone_errno;
    }
    int mapped = write_maps(pid, namespace_request);
    close(hold_fds[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (pidfd >= 0) close(pidfd);
    if (mapped != 0) *failed_step = CORRAL_SPAWN_STEP_USER_NAMESPACE;
    return mapped;
}
