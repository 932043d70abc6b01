// pidfds, waitid, the subreaper flag and the SIGCHLD notifier.
#define _GNU_SOURCE
#include "corral_shims.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int corral_pidfd_open(pid_t pid, int *pidfd_out) {
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) return errno;
    *pidfd_out = fd;
    return 0;
}

int corral_pidfd_send_signal(int pidfd, int signal) {
    if (syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0) != 0) return errno;
    return 0;
}

static void decode(const siginfo_t *info, int *code, int *status) {
    *code = info->si_code;
    *status = info->si_status;
}

int corral_waitid_pidfd(int pidfd, int *exited, int *code, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG) != 0) return errno;
    *exited = info.si_pid != 0;
    decode(&info, code, status);
    return 0;
}

int corral_waitid_pid(pid_t pid, int peek_only, pid_t *pid_out, int *code, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    int options = WEXITED | WNOHANG | (peek_only ? WNOWAIT : 0);
    idtype_t type = pid > 0 ? P_PID : P_ALL;
    if (waitid(type, (id_t)(pid > 0 ? pid : 0), &info, options) != 0) return errno;
    *pid_out = info.si_pid;
    decode(&info, code, status);
    return 0;
}

int corral_set_child_subreaper(void) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return errno;
    return 0;
}

static volatile int sigchld_eventfd = -1;

static void on_sigchld(int sig) {
    (void)sig;
    int saved = errno;
    uint64_t one = 1;
    ssize_t ignored = write(sigchld_eventfd, &one, sizeof(one));
    (void)ignored;
    errno = saved;
}

int corral_install_sigchld_notifier(int eventfd) {
    sigchld_eventfd = eventfd;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_sigchld;
    action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGCHLD, &action, NULL) != 0) return errno;
    return 0;
}

int corral_probe_fork_join(int procs_fd, int set_ids, uid_t uid, gid_t gid) {
    pid_t pid = fork();
    if (pid < 0) return errno;
    if (pid == 0) {
        // Only async-signal-safe calls: the parent may have threads.
        if (set_ids && (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(EPERM);
        if (write(procs_fd, "0", 1) != 1) _exit(errno > 0 && errno < 256 ? errno : EIO);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return errno;
    }
    if (!WIFEXITED(status)) return ECHILD;
    return WEXITSTATUS(status);
}
