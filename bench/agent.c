// The benchmark's agent: it starts one child (as a voice agent starts ffmpeg) and then waits.
//   agent cooperative   on SIGTERM: ends its child, waits for it, exits
//   agent stubborn      ignores SIGTERM (and so does its child): only SIGKILL ends them
// Tiny on purpose: 10,000 sessions of it must fit in memory.
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;

static void on_term(int signal) {
    (void)signal;
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    _exit(0);
}

int main(int argc, char **argv) {
    int stubborn = argc > 1 && strcmp(argv[1], "stubborn") == 0;
    if (stubborn) signal(SIGTERM, SIG_IGN);
    child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    if (!stubborn) signal(SIGTERM, on_term);
    for (;;) pause();
}
