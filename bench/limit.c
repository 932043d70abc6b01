// The floor for starting and ending a session on this host: posix_spawn a `sleep` as leader of
// a new session (POSIX_SPAWN_SETSID), SIGTERM its group, reap it. Prints one JSON object with
// the per-cycle start and end times in microseconds.
//
// The burst's floor (`burst`): COUNT agents spawned back to back, each leader of a new session,
// as corral's burst of POSTs starts them; prints the wall time until the last spawn returned and
// this program's CPU time (user + system) per spawn, then ends and reaps them.
//
// usage: limit CYCLES
//        limit burst COUNT AGENT [ARGUMENT]
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

static int burst(int count, char *agent, char *argument) {
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
    char *child_argv[] = {agent, argument, NULL};
    pid_t *pids = calloc((size_t)count, sizeof(pid_t));
    int spawned = 0, failed = 0;
    double began = now_us(), cpu_began = cpu_us();
    for (; spawned < count; spawned++) {
        if (posix_spawn(&pids[spawned], agent, NULL, &attributes, child_argv, environ) != 0) {
            failed = 1;
            break;
        }
    }
    double wall = now_us() - began, cpu = cpu_us() - cpu_began;
    for (int i = 0; i < spawned; i++) kill(-pids[i], SIGTERM);
    for (int i = 0; i < spawned; i++) waitpid(pids[i], NULL, 0);
    if (failed) return 1;
    printf("{\"wall_us\": %.1f, \"cpu_us_per_spawn\": %.1f}\n", wall, cpu / count);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 3 && strcmp(argv[1], "burst") == 0) return burst(atoi(argv[2]), argv[3], argc > 4 ? argv[4] : NULL);
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
