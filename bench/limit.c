// The floor for starting and ending a session on this host: posix_spawn a `sleep` as leader of
// a new session (POSIX_SPAWN_SETSID), SIGTERM its group, reap it. Prints one JSON object with
// the per-cycle start and end times in microseconds.
//
// usage: limit CYCLES
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    int cycles = argc > 1 ? atoi(argv[1]) : 500;
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
    char *child_argv[] = {"sleep", "1000", NULL};
    printf("{\"start_us\": [");
    double *ends = calloc((size_t)cycles, sizeof(double));
    for (int i = 0; i < cycles; i++) {
        pid_t pid;
        double began = now_us();
        if (posix_spawn(&pid, "/bin/sleep", NULL, &attributes, child_argv, environ) != 0) return 1;
        double started = now_us();
        kill(-pid, SIGTERM);
        int status;
        waitpid(pid, &status, 0);
        ends[i] = now_us() - started;
        printf("%s%.1f", i ? ", " : "", started - began);
    }
    printf("], \"end_us\": [");
    for (int i = 0; i < cycles; i++) printf("%s%.1f", i ? ", " : "", ends[i]);
    printf("]}\n");
    return 0;
}
