// The init of a session's pid namespace: corral's own binary, exec'd by the namespace's first
// process as `corral-session-init AGENT_PID GRACE_MS` (pid_namespace.c). It runs from a
// constructor, before anything of Swift, and never returns to it.
//
// PID 1 of a namespace has duties no other process has:
// - every orphan of the namespace is re-parented to it: it reaps them all;
// - the kernel gives it no signal it has no handler for when the signal comes from inside, and
//   when it exits, the kernel kills everything else in the namespace;
// - corral signals the session through it: it passes every signal it gets (SIGTERM, SIGINT,
//   SIGHUP, SIGCONT, ...) on to every other process of the namespace, `kill(-1, sig)`.
//   SIGKILL from corral ends it, and so the whole namespace, at once.
// When the agent exits by itself, the init gives what is left SIGTERM (and SIGCONT), waits up to
// GRACE_MS for it to go, then exits with the agent's status (128 + the signal if a signal killed
// it): corral sees the session's end as the init's exit, and the kernel kills what did not go.
// It never exits before the agent has, so its exit means the agent's, and, the kernel waiting
// for the others before it reports the init's, an empty namespace.
#define _GNU_SOURCE
#include "spawn_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

// What the init exits with for the agent's wait status.
static int exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 127;
}

static int run_init(pid_t agent, int64_t grace_ms) {
    (void)prctl(PR_SET_NAME, "corral-init", 0, 0, 0);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    int agent_code = -1;
    int64_t deadline = -1;
    for (;;) {
        int status;
        pid_t reaped;
        while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
            if (reaped == agent) agent_code = exit_code(status);
        }
        if (reaped < 0 && errno == ECHILD) {
            // Nothing is left in the namespace; the agent was reaped on the way (the init never
            // outlives its last child without having seen the agent go).
            return agent_code < 0 ? 127 : agent_code;
        }
        if (agent_code >= 0 && deadline < 0) {
            (void)kill(-1, SIGTERM);
            (void)kill(-1, SIGCONT);
            deadline = now_ms() + grace_ms;
        }
        struct timespec timeout;
        struct timespec *wait = NULL;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0) return agent_code;
            timeout.tv_sec = (time_t)(left / 1000);
            timeout.tv_nsec = (long)(left % 1000) * 1000000;
            wait = &timeout;
        }
        siginfo_t info;
        int sig = sigtimedwait(&all, &info, wait);
        // EINTR, EAGAIN at the deadline, SIGCHLD: the loop's top reaps and decides.
        if (sig <= 0 || sig == SIGCHLD) continue;
        (void)kill(-1, sig);
    }
}

// A decimal number made of digits only, or -1.
static int64_t parse_decimal(const char *text) {
    if (text == NULL || *text == 0) return -1;
    int64_t value = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9' || value > (INT64_C(1) << 40)) return -1;
        value = value * 10 + (*c - '0');
    }
    return value;
}

// glibc passes main's arguments to constructors of the executable.
__attribute__((constructor(101))) static void corral_namespace_init_entry(int argc, char **argv, char **envp) {
    (void)envp;
    if (argc != 3 || argv == NULL || argv[0] == NULL || strcmp(argv[0], CORRAL_NAMESPACE_INIT_NAME) != 0) return;
    // Only as the first process of a pid namespace, as pid_namespace.c starts it.
    if (getpid() != 1) return;
    int64_t agent = parse_decimal(argv[1]);
    int64_t grace_ms = parse_decimal(argv[2]);
    if (agent <= 1 || agent > INT32_MAX || grace_ms < 0) _exit(127);
    _exit(run_init((pid_t)agent, grace_ms));
}
