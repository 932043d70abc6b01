// corral-spawn-probe: spawns one agent through corral_spawn with the spawn's descriptors on the
// low numbers the agent gets (0-3), and checks that the agent ends up with stdin on 0, its output
// on 1 and 2, the inherited (assignment) socket on 3 and nothing else. A test process cannot free
// its own 0-3 for this (other tests run beside it); this program is single-threaded and owns its
// table. Used by AgentSpawnerTests.
//
//   corral-spawn-probe [--held] [--strategy=NAME] [--free=N,...] stdin=N|high output=N|high inherit=N|high|none
//
// N (0-3) puts that source on that number; `high` somewhere above 63. --free closes those numbers
// (of 0-3 not holding a source) just before the spawn, so the spawn's own pipes and descriptor
// slots land there. --held spawns the way a child placed before execve is (a copy of the
// caller's table); otherwise vfork-style (the child takes the slots). --strategy forces one of
// corral_spawn's strategies (vfork-clone3, vfork-clone, vfork-whole-table, fork, fork-clone) and
// fails unless the spawn used it. The agent is /bin/sleep
// with CORRAL_TEST_RUN from this program's environment. Prints what the agent got; exits 0 if it
// was right, 1 if not, 2 on a usage or set-up error.
#define _GNU_SOURCE
#include "corral_shims.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { SOURCE_STDIN, SOURCE_OUTPUT, SOURCE_INHERIT, SOURCE_COUNT };
static const char *source_names[SOURCE_COUNT] = {"stdin", "output", "inherit"};

static FILE *report;

static void fail_setup(const char *what) {
    fprintf(report, "set-up failed: %s: %s\n", what, strerror(errno));
    exit(2);
}

// -1: none; -2: high; else the number.
static int parse_place(const char *value) {
    if (strcmp(value, "none") == 0) return -1;
    if (strcmp(value, "high") == 0) return -2;
    char *end;
    long number = strtol(value, &end, 10);
    if (*end != '\0' || number < 0 || number > 3) {
        fprintf(report, "bad place '%s': 0-3, high or none\n", value);
        exit(2);
    }
    return (int)number;
}

// Moves `fd` to `place` (a number, or the first free one above 63), close-on-exec as corral's
// own descriptors are.
static int put(int fd, int place) {
    int target = place >= 0 ? place : fcntl(fd, F_DUPFD_CLOEXEC, 64);
    if (target < 0) fail_setup("F_DUPFD_CLOEXEC");
    if (place >= 0 && dup3(fd, target, O_CLOEXEC) < 0) fail_setup("dup3");
    close(fd);
    return target;
}

static int same_file(const char *path, int fd) {
    struct stat a, b;
    return stat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int main(int argc, char **argv) {
    int reporting = fcntl(1, F_DUPFD_CLOEXEC, 200);
    if (reporting < 0 || !(report = fdopen(reporting, "w"))) return 2;
    setvbuf(report, NULL, _IOLBF, 0);

    int held = 0;
    corral_spawn_strategy strategy = CORRAL_SPAWN_AUTOMATIC;
    int freed[4] = {0, 0, 0, 0};
    int place[SOURCE_COUNT] = {-2, -2, -1};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--held") == 0) {
            held = 1;
        } else if (strncmp(argv[i], "--strategy=", 11) == 0) {
            static const char *names[] = {"automatic", "vfork-clone3", "vfork-clone", "vfork-whole-table", "fork", "fork-clone"};
            int found = 0;
            for (int k = 0; k < (int)(sizeof(names) / sizeof(names[0])); k++) {
                if (strcmp(argv[i] + 11, names[k]) == 0) {
                    strategy = (corral_spawn_strategy)k;
                    found = 1;
                }
            }
            if (!found) {
                fprintf(report, "unknown strategy '%s'\n", argv[i] + 11);
                return 2;
            }
        } else if (strncmp(argv[i], "--free=", 7) == 0) {
            for (char *item = strtok(argv[i] + 7, ","); item; item = strtok(NULL, ",")) freed[parse_place(item)] = 1;
        } else if (strncmp(argv[i], "stdin=", 6) == 0) {
            place[SOURCE_STDIN] = parse_place(argv[i] + 6);
        } else if (strncmp(argv[i], "output=", 7) == 0) {
            place[SOURCE_OUTPUT] = parse_place(argv[i] + 7);
        } else if (strncmp(argv[i], "inherit=", 8) == 0) {
            place[SOURCE_INHERIT] = parse_place(argv[i] + 8);
        } else {
            fprintf(report, "unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }

    // A clean table: 0-3 hold a filler (never a source), nothing else is open but the report.
    for (int fd = 3; fd < 200; fd++) close(fd);
    int filler = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (filler < 0) fail_setup("open(/dev/null)");
    for (int fd = 0; fd <= 3; fd++) {
        if (fd != filler && dup3(filler, fd, O_CLOEXEC) < 0) fail_setup("dup3(filler)");
    }

    // Sources that can be told apart: two memfds and a socket.
    int sources[SOURCE_COUNT];
    sources[SOURCE_STDIN] = put((int)syscall(SYS_memfd_create, "corral-probe-stdin", MFD_CLOEXEC), place[SOURCE_STDIN]);
    sources[SOURCE_OUTPUT] = put((int)syscall(SYS_memfd_create, "corral-probe-output", MFD_CLOEXEC), place[SOURCE_OUTPUT]);
    sources[SOURCE_INHERIT] = -1;
    int peer = -1;
    if (place[SOURCE_INHERIT] != -1) {
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) fail_setup("socketpair");
        peer = put(pair[1], -2);
        sources[SOURCE_INHERIT] = put(pair[0], place[SOURCE_INHERIT]);
    }
    for (int fd = 0; fd <= 3; fd++) {
        int holds_source = fd == sources[SOURCE_STDIN] || fd == sources[SOURCE_OUTPUT] || fd == sources[SOURCE_INHERIT];
        if (freed[fd] && !holds_source) close(fd);
    }
    fprintf(report, "sources: stdin %d, output %d, inherit %d%s\n", sources[SOURCE_STDIN], sources[SOURCE_OUTPUT],
            sources[SOURCE_INHERIT], held ? " (held)" : "");

    char tag[256] = "CORRAL_TEST_RUN=";
    if (getenv("CORRAL_TEST_RUN")) strncat(tag, getenv("CORRAL_TEST_RUN"), sizeof(tag) - strlen(tag) - 1);
    char *agent_argv[] = {"sleep", "30", NULL};
    char *agent_envp[] = {tag, NULL};
    corral_spawn_request request;
    memset(&request, 0, sizeof(request));
    request.path = "/bin/sleep";
    request.argv = agent_argv;
    request.envp = agent_envp;
    request.stdin_fd = sources[SOURCE_STDIN];
    request.output_fd = sources[SOURCE_OUTPUT];
    request.cgroup_fd = -1;
    request.inherit_fd = sources[SOURCE_INHERIT];
    request.inherit_target_fd = sources[SOURCE_INHERIT] >= 0 ? 3 : -1;
    request.hold = held;
    request.strategy = strategy;
    corral_spawn_result result;
    int code = corral_spawn(&request, &result);
    if (code == 0 && held) code = corral_spawn_release(&result);
    if (code != 0) {
        fprintf(report, "spawn failed at step %d: %s\n", (int)result.failed_step, strerror(code));
        return 1;
    }
    if (strategy != CORRAL_SPAWN_AUTOMATIC && result.strategy != strategy) {
        fprintf(report, "spawned with strategy %d, not the %d asked for\n", (int)result.strategy, (int)strategy);
        kill(result.pid, SIGKILL);
        while (waitpid(result.pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return 1;
    }

    // The agent is past execve, but its dynamic loader may still have files of its own open
    // (/etc/ld.so.cache): wait until it sleeps (10 s at most, then look anyway).
    char wchan_path[64];
    snprintf(wchan_path, sizeof(wchan_path), "/proc/%d/wchan", (int)result.pid);
    for (int tries = 0; tries < 10000; tries++) {
        char wchan[128] = "";
        FILE *file = fopen(wchan_path, "r");
        if (file) {
            if (!fgets(wchan, sizeof(wchan), file)) wchan[0] = '\0';
            fclose(file);
        }
        if (strstr(wchan, "nanosleep")) break;
        usleep(1000);
    }

    // What the agent (sleeping, past execve) has, against what it should have.
    int expected[4] = {sources[SOURCE_STDIN], sources[SOURCE_OUTPUT], sources[SOURCE_OUTPUT], sources[SOURCE_INHERIT]};
    const char *expected_names[4] = {source_names[SOURCE_STDIN], source_names[SOURCE_OUTPUT], source_names[SOURCE_OUTPUT],
                                     source_names[SOURCE_INHERIT]};
    int wrong = 0;
    char directory[64];
    snprintf(directory, sizeof(directory), "/proc/%d/fd", (int)result.pid);
    DIR *listing = opendir(directory);
    if (!listing) {
        fprintf(report, "cannot read %s: %s\n", directory, strerror(errno));
        wrong = 1;
    }
    int seen[4] = {0, 0, 0, 0};
    for (struct dirent *entry = listing ? readdir(listing) : NULL; entry; entry = readdir(listing)) {
        if (entry->d_name[0] == '.') continue;
        int fd = atoi(entry->d_name);
        char path[96], link[256];
        snprintf(path, sizeof(path), "%s/%d", directory, fd);
        ssize_t length = readlink(path, link, sizeof(link) - 1);
        link[length > 0 ? length : 0] = '\0';
        if (fd > 3 || expected[fd] < 0) {
            fprintf(report, "fd %d: %s, which the agent should not have\n", fd, link);
            wrong = 1;
            continue;
        }
        seen[fd] = 1;
        // The sources were moved to the child's numbers in the child alone: ours are untouched.
        int right = same_file(path, expected[fd]);
        fprintf(report, "fd %d: %s (%s: %s)\n", fd, link, expected_names[fd], right ? "right" : "WRONG");
        if (!right) wrong = 1;
    }
    if (listing) closedir(listing);
    for (int fd = 0; fd <= 3 && listing; fd++) {
        if (expected[fd] >= 0 && !seen[fd]) {
            fprintf(report, "fd %d: missing (%s)\n", fd, expected_names[fd]);
            wrong = 1;
        }
    }

    kill(result.pid, SIGKILL);
    int status;
    while (waitpid(result.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (result.pidfd >= 0) close(result.pidfd);
    if (peer >= 0) close(peer);
    fprintf(report, wrong ? "wrong\n" : "right\n");
    return wrong;
}
