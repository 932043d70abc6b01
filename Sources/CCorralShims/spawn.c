// Spawning an agent. The child makes only raw syscalls up to execve and reports a failure
// through a close-on-exec pipe, so the parent knows synchronously whether execve happened.
//
// Supported kernels: Linux 5.3 and later (clone3, pidfd_open; corral holds every agent by a
// pidfd). The strategies, in the order they are tried (`corral_spawn_strategy`; a request may
// force one, so that tests run each on any host):
//
// vfork-style, as posix_spawn does: clone with CLONE_VM | CLONE_VFORK on a stack of its own.
// Nothing of corral's address space is copied (a fork of corral copies its page tables, makes
// every page copy-on-write, and the child tears that copy down again at execve: most of the cost
// of a start, measured). The child shares corral's memory until execve, so it writes nothing but
// its own stack, and calls no libc function that keeps state (setuid and friends go through
// syscall(): glibc's wrappers would try to reach corral's threads).
// - VFORK_CLONE3: on x86-64 that clone is clone3 with CLONE_INTO_CGROUP (5.7), so the child
//   starts in its cgroup.
// - VFORK_CLONE: elsewhere, on 5.3-5.6, or when the cgroup refuses CLONE_INTO_CGROUP, it is
//   clone, and the child joins its cgroup itself by writing 0 to cgroup.procs; a move like that
//   takes the cgroup core's process-move lock for writing, which waits out an RCU grace period
//   now and then: 15-20 ms for one start in fifty on this host (traced), the start p99.
// - VFORK_WHOLE_TABLE: both of those give the child a descriptor table of its own with only
//   what it needs (CLOSE_RANGE_UNSHARE, 5.9; see the slots below). Before 5.9 the child copies
//   corral's whole table and closes all of it.
// - FORK: a held child (one the caller places before it runs) cannot share memory with a parent
//   that is suspended until execve, so it is forked with clone3 (CLONE_PIDFD, optionally
//   CLONE_INTO_CGROUP).
// - FORK_CLONE: where a seccomp filter refuses clone3 with ENOSYS (Docker's default profile
//   does, so that libcs fall back), a held child without a cgroup is forked with clone. The
//   vfork-style spawn falls back to clone by itself there.
//
// Two spawns on two threads run side by side: nothing here is shared between them but the
// descriptor slots, of which there are several sets.
#define _GNU_SOURCE
#include "corral_shims.h"
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

struct corral_clone_args {
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

static void child_fail(int pipe_fd, corral_spawn_step step) {
    int report[2] = {step, errno};
    ssize_t ignored = write(pipe_fd, report, sizeof(report));
    (void)ignored;
    _exit(127);
}

// True if the child installs a descriptor at `fd`.
static int child_is_target(const corral_spawn_request *request, int fd) {
    return fd <= 2 || (request->inherit_fd >= 0 && fd == request->inherit_target_fd);
}

// `fd`, or a close-on-exec copy of it above every target if it is one.
static int child_off_targets(const corral_spawn_request *request, int fd, int pipe_fd) {
    if (!child_is_target(request, fd)) return fd;
    int floor = request->inherit_fd >= 0 && request->inherit_target_fd >= 10 ? request->inherit_target_fd + 1 : 10;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (moved < 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);
    return moved;
}

// Closes every descriptor from `lo` to `hi`.
static void child_close_range(unsigned lo, unsigned hi) {
    if (lo > hi || syscall(SYS_close_range, lo, hi, 0) == 0) return;
    // Kernels before 5.9.
    for (unsigned fd = lo; fd <= hi && fd < 65536; fd++) (void)close((int)fd);
}

// Closes every descriptor from `first` on but the `count` in `keep` (-1 for none).
static void child_close_all_but(int first, int *keep, int count) {
    // A few numbers: sorted in place, by insertion.
    for (int i = 1; i < count; i++) {
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int moved = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = moved;
        }
    }
    unsigned from = (unsigned)first;
    for (int i = 0; i < count; i++) {
        if (keep[i] < 0 || (unsigned)keep[i] < from) continue;
        child_close_range(from, (unsigned)keep[i] - 1);
        from = (unsigned)keep[i] + 1;
    }
    child_close_range(from, ~0U);
}

// Runs in the child: no allocation, no locks, only syscalls.
static void child_exec(const corral_spawn_request *request, int pipe_fd, int hold_fd) {
    // Dispositions set to "ignore" survive execve; handlers do not but are reset here as well,
    // so no corral handler can run in the child before exec.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        (void)sigaction(sig, &dfl, NULL);
    }
    sigset_t empty;
    sigemptyset(&empty);
    if (sigprocmask(SIG_SETMASK, &empty, NULL) != 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);

    if (setsid() < 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);

    // Every source is first moved off the numbers the child installs (0-2, the inherited
    // descriptor's target), since any of them may be one of those numbers: a dup2 onto it would
    // replace a source not yet installed (stdin becoming a prewarmed agent's assignment socket),
    // and a dup2 of a number onto itself would leave it close-on-exec. With no source on a
    // target, the order of the dup2s below no longer matters.
    pipe_fd = child_off_targets(request, pipe_fd, pipe_fd);
    if (hold_fd >= 0) hold_fd = child_off_targets(request, hold_fd, pipe_fd);
    int stdin_fd = child_off_targets(request, request->stdin_fd, pipe_fd);
    int output_fd = child_off_targets(request, request->output_fd, pipe_fd);
    int inherit_fd = request->inherit_fd >= 0 ? child_off_targets(request, request->inherit_fd, pipe_fd) : -1;
    if (dup2(stdin_fd, 0) < 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);
    if (dup2(output_fd, 1) < 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);
    if (dup2(output_fd, 2) < 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);
    if (inherit_fd >= 0 && dup2(inherit_fd, request->inherit_target_fd) < 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);

    if (request->set_ids) {
        // Groups first: after setuid the right to change them is gone.
        // Raw syscalls: they change this process alone, which is what a child needs.
        if (syscall(SYS_setgroups, (size_t)request->group_count, request->groups) != 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);
        if (syscall(SYS_setgid, request->gid) != 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);
        if (syscall(SYS_setuid, request->uid) != 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_SETUP);
    }

    // After dropping privileges, so the directory is entered with the agent's own rights.
    if (request->cwd != NULL && chdir(request->cwd) != 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_CHDIR);

    // Nothing of corral's (listening socket, database, pidfds) may leak into the agent. Closed
    // now rather than at execve (it costs the same): a held child waits for its placement
    // first, and other spawns' report pipes, copied into it with the rest, must not stay open
    // meanwhile (each of those spawns waits for its pipe's last writer to go).
    int keep[3] = {pipe_fd, hold_fd, request->inherit_fd >= 0 ? request->inherit_target_fd : -1};
    child_close_all_but(3, keep, 3);
    if (hold_fd >= 0) {
        // Wait for the parent to place us; EOF without a byte means "do not run".
        char go = 0;
        ssize_t got;
        do {
            got = read(hold_fd, &go, 1);
        } while (got < 0 && errno == EINTR);
        if (got != 1) _exit(127);
    }

    corral_child_default_slice();
    execve(request->path, request->argv, request->envp);
    child_fail(pipe_fd, CORRAL_SPAWN_STEP_EXEC);
}

static pid_t clone3_with(struct corral_clone_args *args) {
    return (pid_t)syscall(SYS_clone3, args, sizeof(*args));
}

// Descriptors the vfork-style child takes with it, at low numbers of their own.
//
// A child normally gets a copy of corral's whole descriptor table and has to close every one
// (at execve, as close-on-exec, or before): with 10,000 sessions (a pidfd each) that was most of
// a start, and it grew with every session (perf: filp_flush, dnotify_flush in
// do_close_on_exec). Instead the child shares the table at clone (CLONE_FILES) and its first act
// is close_range(boundary, ~0, CLOSE_RANGE_UNSHARE): the kernel gives it a table of only the
// descriptors below `boundary`.
// What it needs is first duplicated into slots, reserved once, low, and held on /dev/null
// between spawns.
//
// A spawn holds its slots from filling them until the child has called execve, so one set
// would let one spawn run at a time (the parent is suspended in the clone until then, however
// long the child takes). There are several sets, each with a lock of its own, all reserved
// together so they are all low: spawns on different threads take different sets. The child
// closes the other sets' descriptors (and anything else below the boundary) right after
// unsharing, so it never keeps another spawn's pipe or log open.
enum { SLOT_STDIN, SLOT_OUTPUT, SLOT_REPORT, SLOT_CGROUP, SLOT_INHERIT, SLOT_COUNT };
// corral spawns on four threads (SpawnExecutor); the rest is room for spawns from elsewhere.
enum { SLOT_SETS = 8 };

struct slot_set {
    pthread_mutex_t lock;
    int fd[SLOT_COUNT];
};

static struct {
    pthread_once_t once;
    // Set once, by slots_reserve.
    int reserved;
    int boundary;
    int null_fd;
    // Set (atomically) when a child could not unshare its table (kernels before 5.9).
    int unusable;
    struct slot_set set[SLOT_SETS];
} slots = {.once = PTHREAD_ONCE_INIT, .null_fd = -1};

static void slots_reserve(void) {
    for (int i = 0; i < SLOT_SETS; i++) pthread_mutex_init(&slots.set[i].lock, NULL);
    slots.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (slots.null_fd < 0) return;
    int taken = 0;
    for (; taken < SLOT_SETS * SLOT_COUNT; taken++) {
        // Never 0-2: the child installs its own there.
        int fd = fcntl(slots.null_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) break;
        slots.set[taken / SLOT_COUNT].fd[taken % SLOT_COUNT] = fd;
        if (fd + 1 > slots.boundary) slots.boundary = fd + 1;
    }
    if (taken < SLOT_SETS * SLOT_COUNT) {
        for (int i = 0; i < taken; i++) close(slots.set[i / SLOT_COUNT].fd[i % SLOT_COUNT]);
        close(slots.null_fd);
        slots.null_fd = -1;
        return;
    }
    slots.reserved = 1;
}

// A set of slots, locked; NULL if there are none (they could not be reserved, or this kernel
// cannot unshare a table).
static struct slot_set *slots_acquire(void) {
    pthread_once(&slots.once, slots_reserve);
    if (!slots.reserved || __atomic_load_n(&slots.unusable, __ATOMIC_RELAXED)) return NULL;
    for (int i = 0; i < SLOT_SETS; i++) {
        if (pthread_mutex_trylock(&slots.set[i].lock) == 0) return &slots.set[i];
    }
    // All in use: wait for one, a different one for each thread as far as there are sets.
    struct slot_set *set = &slots.set[(unsigned)syscall(SYS_gettid) % SLOT_SETS];
    pthread_mutex_lock(&set->lock);
    return set;
}

// Points the slots back at /dev/null, so no spawn keeps a log or cgroup open, and unlocks them.
static void slots_release(struct slot_set *set) {
    for (int i = 0; i < SLOT_COUNT; i++) (void)dup3(slots.null_fd, set->fd[i], O_CLOEXEC);
    pthread_mutex_unlock(&set->lock);
}

// `copy` gets the slot numbers in place of the caller's descriptors.
static int slots_fill(struct slot_set *set, const corral_spawn_request *request, int pipe_fd, corral_spawn_request *copy, int *child_pipe_fd) {
    *copy = *request;
    if (dup3(request->stdin_fd, set->fd[SLOT_STDIN], O_CLOEXEC) < 0) return 0;
    copy->stdin_fd = set->fd[SLOT_STDIN];
    if (dup3(request->output_fd, set->fd[SLOT_OUTPUT], O_CLOEXEC) < 0) return 0;
    copy->output_fd = set->fd[SLOT_OUTPUT];
    if (dup3(pipe_fd, set->fd[SLOT_REPORT], O_CLOEXEC) < 0) return 0;
    *child_pipe_fd = set->fd[SLOT_REPORT];
    if (request->cgroup_fd >= 0) {
        if (dup3(request->cgroup_fd, set->fd[SLOT_CGROUP], O_CLOEXEC) < 0) return 0;
        copy->cgroup_fd = set->fd[SLOT_CGROUP];
    }
    if (request->inherit_fd >= 0) {
        if (dup3(request->inherit_fd, set->fd[SLOT_INHERIT], O_CLOEXEC) < 0) return 0;
        copy->inherit_fd = set->fd[SLOT_INHERIT];
    }
    return 1;
}

struct shared_child {
    corral_spawn_request request;
    int pipe_fd;
    // Started inside its cgroup (CLONE_INTO_CGROUP): nothing to join.
    int in_cgroup;
    // > 0: the table is shared; unshare it keeping the descriptors below this, of which only
    // `keep` (the child's slots) stay open.
    int files_boundary;
    const int *keep;
    // Set by the child (shared memory) when it could not unshare (kernels before 5.9).
    volatile int unshare_failed;
    // Set by the child (shared memory): its own start time, or 0.
    volatile unsigned long long start_time;
};

// The child's own start time from /proc/self/stat (field 22, after the command in parentheses,
// which may itself hold ")"), or 0. Raw syscalls and a stack buffer: it runs before execve.
static unsigned long long child_start_time(void) {
    char stat[1024];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t got = syscall(SYS_read, fd, stat, sizeof(stat) - 1);
    syscall(SYS_close, fd);
    if (got <= 0) return 0;
    int field = 0;
    for (ssize_t i = got - 1; i >= 0; i--) {
        if (stat[i] == ')') {
            field = 2;
            for (ssize_t j = i + 1; j < got; j++) {
                if (stat[j] == ' ') {
                    field++;
                } else if (field == 22) {
                    unsigned long long value = 0;
                    for (; j < got && stat[j] >= '0' && stat[j] <= '9'; j++) value = value * 10 + (unsigned)(stat[j] - '0');
                    return value;
                }
            }
            return 0;
        }
    }
    return 0;
}

// The vfork-style child: takes its own descriptor table, joins the cgroup unless it was cloned
// into it, then goes on as any child.
static int shared_child_main(void *argument) {
    struct shared_child *child = argument;
    if (child->files_boundary > 0) {
        if (syscall(SYS_close_range, (unsigned)child->files_boundary, ~0U, CLOSE_RANGE_UNSHARE) != 0) {
            // Nothing may be touched in a table corral's threads are using: give up, the parent
            // starts this agent again without sharing.
            child->unshare_failed = 1;
            _exit(127);
        }
        // The table is the child's own now: drop what other spawns have in their slots (their
        // report pipes must not wait for this child's execve) and whatever else is that low.
        for (int fd = 3; fd < child->files_boundary; fd++) {
            int kept = 0;
            for (int i = 0; i < SLOT_COUNT; i++) kept |= child->keep[i] == fd;
            if (!kept) (void)close(fd);
        }
    }
    int pipe_fd = child->pipe_fd;
    if (child->request.cgroup_fd >= 0 && !child->in_cgroup) {
        int procs = openat(child->request.cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
        if (procs < 0) child_fail(pipe_fd, CORRAL_SPAWN_STEP_CGROUP);
        if (write(procs, "0", 1) != 1) child_fail(pipe_fd, CORRAL_SPAWN_STEP_CGROUP);
        close(procs);
    }
    child->start_time = child_start_time();
    child_exec(&child->request, pipe_fd, -1);
    return 127;
}

enum { SHARED_CHILD_STACK = 64 * 1024 };

// The vfork-style child's stack, one per spawning thread, kept for the thread's life: the parent
// resumes only once the child has called execve or exited, so the next spawn may use it again.
// An mmap and munmap per spawn cost a TLB shootdown on every CPU running one of corral's threads.
// Without a key (the process has used them all up), each spawn maps a stack and unmaps it.
static pthread_key_t child_stack_key;
static int child_stack_keyed;
static pthread_once_t child_stack_once = PTHREAD_ONCE_INIT;

static void child_stack_release(void *stack) { munmap(stack, SHARED_CHILD_STACK); }

static void child_stack_key_create(void) { child_stack_keyed = pthread_key_create(&child_stack_key, child_stack_release) == 0; }

// The stack for the next child; `*owned`: the caller unmaps it once the clone has returned.
static void *child_stack(int *owned) {
    pthread_once(&child_stack_once, child_stack_key_create);
    void *stack = child_stack_keyed ? pthread_getspecific(child_stack_key) : NULL;
    *owned = 0;
    if (stack) return stack;
    stack = mmap(NULL, SHARED_CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return NULL;
    if (!child_stack_keyed || pthread_setspecific(child_stack_key, stack) != 0) *owned = 1;
    return stack;
}

#if defined(__x86_64__)
#define CORRAL_HAVE_CLONE3_SHARED 1
// clone3 with its own stack for the child. The child comes back from the syscall on that stack,
// where no C frame exists, so it cannot return into C: this calls fn(arg) there and exits with
// its result. In the parent it returns the pid, or -errno. glibc has such a function but does
// not export it.
long corral_clone3_shared(struct corral_clone_args *args, size_t size, int (*fn)(void *), void *arg)
    __attribute__((visibility("hidden")));
__asm__(
    ".pushsection .text\n"
    ".globl corral_clone3_shared\n"
    ".hidden corral_clone3_shared\n"
    ".type corral_clone3_shared, @function\n"
    ".p2align 4\n"
    "corral_clone3_shared:\n"
    "    movq %rcx, %r8\n"      // arg: syscall overwrites rcx, keeps r8 (and rdx, fn)
    "    movl $435, %eax\n"     // SYS_clone3; args and size are already in rdi, rsi
    "    syscall\n"
    "    testq %rax, %rax\n"
    "    jz 1f\n"
    "    ret\n"
    "1:\n"
    "    xorl %ebp, %ebp\n"     // the outermost frame
    "    andq $-16, %rsp\n"
    "    movq %r8, %rdi\n"
    "    callq *%rdx\n"
    "    movl %eax, %edi\n"
    "    movl $60, %eax\n"      // SYS_exit
    "    syscall\n"
    "    hlt\n"
    ".size corral_clone3_shared, .-corral_clone3_shared\n"
    ".popsection\n");

// Set once clone3 has said it cannot (kernel before 5.7: E2BIG or EINVAL for CLONE_INTO_CGROUP;
// ENOSYS from a seccomp filter).
static int clone3_shared_unsupported;
#endif

// Which system call the vfork-style clone may use.
enum clone_choice { CLONE_EITHER, CLONE_ONLY_CLONE3, CLONE_ONLY_CLONE };

// Clones the vfork-style child; `*used_clone3` says how. -1 with errno ENOSYS if `choice`
// cannot be met on this architecture.
static pid_t clone_shared_with(struct shared_child *child, int share_files, enum clone_choice choice, int *pidfd, int *used_clone3) {
    *used_clone3 = 0;
#ifndef CORRAL_HAVE_CLONE3_SHARED
    if (choice == CLONE_ONLY_CLONE3) {
        errno = ENOSYS;
        return -1;
    }
#endif
    int stack_owned = 0;
    void *stack = child_stack(&stack_owned);
    if (!stack) return -1;
    pid_t pid = -1;
    int clone3_errno = 0;
#ifdef CORRAL_HAVE_CLONE3_SHARED
    if (choice == CLONE_ONLY_CLONE3 || (choice == CLONE_EITHER && !__atomic_load_n(&clone3_shared_unsupported, __ATOMIC_RELAXED))) {
        struct corral_clone_args args;
        memset(&args, 0, sizeof(args));
        args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | (share_files ? CLONE_FILES : 0);
        args.pidfd = (uint64_t)(uintptr_t)pidfd;
        args.exit_signal = SIGCHLD;
        args.stack = (uint64_t)(uintptr_t)stack;
        args.stack_size = SHARED_CHILD_STACK;
        if (child->request.cgroup_fd >= 0) {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = (uint64_t)child->request.cgroup_fd;
        }
        child->in_cgroup = child->request.cgroup_fd >= 0;
        long got = corral_clone3_shared(&args, sizeof(args), shared_child_main, child);
        if (got >= 0) {
            pid = (pid_t)got;
            *used_clone3 = 1;
        } else {
            if (got == -ENOSYS || got == -E2BIG || got == -EINVAL) __atomic_store_n(&clone3_shared_unsupported, 1, __ATOMIC_RELAXED);
            // Any other refusal (the cgroup's, say) is met again below, where the child reports
            // the step that failed.
            child->in_cgroup = 0;
            clone3_errno = (int)-got;
        }
    }
#endif
    if (pid < 0 && choice == CLONE_ONLY_CLONE3) {
        errno = clone3_errno;
    } else if (pid < 0) {
        int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD | (share_files ? CLONE_FILES : 0);
        pid = clone(shared_child_main, (char *)stack + SHARED_CHILD_STACK, flags, child, pidfd);
    }
    if (stack_owned) {
        int saved = errno;
        munmap(stack, SHARED_CHILD_STACK);
        errno = saved;
    }
    return pid;
}

// Starts the vfork-style child; returns when it has called execve or exited, with `*used` set.
static pid_t clone_shared(const corral_spawn_request *request, int pipe_fd, int *pidfd, corral_spawn_strategy *used, unsigned long long *start_time) {
    enum clone_choice choice = request->strategy == CORRAL_SPAWN_VFORK_CLONE3 ? CLONE_ONLY_CLONE3
                               : request->strategy == CORRAL_SPAWN_VFORK_CLONE ? CLONE_ONLY_CLONE
                                                                                : CLONE_EITHER;
    struct shared_child child;
    int used_clone3 = 0;
    struct slot_set *set = request->strategy == CORRAL_SPAWN_VFORK_WHOLE_TABLE ? NULL : slots_acquire();
    if (set) {
        memset(&child, 0, sizeof(child));
        pid_t pid = -1;
        int saved = 0;
        int filled = slots_fill(set, request, pipe_fd, &child.request, &child.pipe_fd);
        if (filled) {
            child.files_boundary = slots.boundary;
            child.keep = set->fd;
            pid = clone_shared_with(&child, 1, choice, pidfd, &used_clone3);
            saved = errno;
        }
        slots_release(set);
        if (pid > 0 && child.unshare_failed) {
            int status;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            if (*pidfd >= 0) close(*pidfd);
            *pidfd = -1;
            __atomic_store_n(&slots.unusable, 1, __ATOMIC_RELAXED);
        } else if (filled) {
            *used = used_clone3 ? CORRAL_SPAWN_VFORK_CLONE3 : CORRAL_SPAWN_VFORK_CLONE;
            *start_time = child.start_time;
            errno = saved;
            return pid;
        }
    }
    if (choice != CLONE_EITHER) {
        // A forced strategy with a table of its own that cannot be had here.
        errno = ENOSYS;
        return -1;
    }
    // Without slots: the child copies corral's table and closes it all at execve.
    memset(&child, 0, sizeof(child));
    child.request = *request;
    child.pipe_fd = pipe_fd;
    *used = CORRAL_SPAWN_VFORK_WHOLE_TABLE;
    pid_t pid = clone_shared_with(&child, 0, choice, pidfd, &used_clone3);
    *start_time = child.start_time;
    return pid;
}

// Reads the child's report: none (EOF, or nothing after a vfork-style clone) means execve happened.
static int await_exec(corral_spawn_result *result) {
    int report[2] = {0, 0};
    ssize_t got;
    do {
        got = read(result->report_fd, report, sizeof(report));
    } while (got < 0 && errno == EINTR);
    close(result->report_fd);
    result->report_fd = -1;

    // EOF, or nothing written (a non-blocking read after a vfork-style clone): execve happened.
    if (got == 0 || (got < 0 && errno == EAGAIN)) return 0;
    // The child failed before execve (or vanished) and has exited: reap it so nothing is left.
    int status;
    while (waitpid(result->pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (result->pidfd >= 0) close(result->pidfd);
    result->pidfd = -1;
    int complete = got == (ssize_t)sizeof(report) && report[0] >= CORRAL_SPAWN_STEP_SETUP && report[0] <= CORRAL_SPAWN_STEP_INIT;
    result->failed_step = complete ? (corral_spawn_step)report[0] : CORRAL_SPAWN_STEP_SETUP;
    return complete && report[1] != 0 ? report[1] : EIO;
}

int corral_spawn(const corral_spawn_request *request, corral_spawn_result *result) {
    memset(result, 0, sizeof(*result));
    result->pidfd = -1;
    result->release_fd = -1;
    result->report_fd = -1;
    corral_spawn_strategy strategy = request->strategy;
    int forked = request->hold || strategy == CORRAL_SPAWN_FORK || strategy == CORRAL_SPAWN_FORK_CLONE;
    if (forked && strategy != CORRAL_SPAWN_AUTOMATIC && strategy != CORRAL_SPAWN_FORK && strategy != CORRAL_SPAWN_FORK_CLONE) return EINVAL;
    // clone has no CLONE_INTO_CGROUP.
    if (strategy == CORRAL_SPAWN_FORK_CLONE && request->cgroup_fd >= 0) return EINVAL;

    // A vfork-style clone returns once the child has called execve or exited, and a child that
    // failed wrote its report before it exited: the report is read without waiting, so this
    // thread does not sleep again until the agent's close-on-exec. A forked child's is waited for.
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC | (forked ? 0 : O_NONBLOCK)) != 0) return errno;
    int hold_fds[2] = {-1, -1};
    if (request->hold && pipe2(hold_fds, O_CLOEXEC) != 0) {
        int saved = errno;
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return saved;
    }

    // Block every signal around the clone so the child starts with all of them blocked and
    // cannot run an inherited handler before it has reset them.
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);

    int pidfd = -1;
    pid_t pid;
    if (forked) {
        pid = -1;
        errno = ENOSYS;
        if (strategy != CORRAL_SPAWN_FORK_CLONE) {
            struct corral_clone_args args;
            memset(&args, 0, sizeof(args));
            args.flags = CLONE_PIDFD;
            args.pidfd = (uint64_t)(uintptr_t)&pidfd;
            args.exit_signal = SIGCHLD;
            if (request->cgroup_fd >= 0) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t)request->cgroup_fd;
            }
            pid = clone3_with(&args);
            result->strategy = CORRAL_SPAWN_FORK;
        }
        if (pid < 0 && errno == ENOSYS && strategy != CORRAL_SPAWN_FORK && request->cgroup_fd < 0) {
            // Fork-style like clone3 above: the child goes on from here on a copy of this stack.
            // The pidfd comes back through the parent-tid argument, third on every architecture
            // corral is built for.
            pid = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PIDFD | SIGCHLD), NULL, &pidfd, NULL, NULL);
            result->strategy = CORRAL_SPAWN_FORK_CLONE;
        }
        if (pid == 0) {
            close(pipe_fds[0]);
            if (hold_fds[1] >= 0) close(hold_fds[1]);
            child_exec(request, pipe_fds[1], hold_fds[0]);
        }
    } else {
        pid = clone_shared(request, pipe_fds[1], &pidfd, &result->strategy, &result->start_time);
    }
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(pipe_fds[1]);
    if (hold_fds[0] >= 0) close(hold_fds[0]);
    if (pid < 0) {
        close(pipe_fds[0]);
        if (hold_fds[1] >= 0) close(hold_fds[1]);
        return clone_errno;
    }
    result->pid = pid;
    result->pidfd = pidfd;
    result->in_cgroup = request->cgroup_fd >= 0;
    result->report_fd = pipe_fds[0];
    if (request->hold) {
        result->release_fd = hold_fds[1];
        return 0;
    }
    return await_exec(result);
}

int corral_spawn_release(corral_spawn_result *result) {
    char go = 1;
    ssize_t written;
    do {
        written = write(result->release_fd, &go, 1);
    } while (written < 0 && errno == EINTR);
    close(result->release_fd);
    result->release_fd = -1;
    return await_exec(result);
}

void corral_spawn_abort(corral_spawn_result *result) {
    // Closing the hold pipe without a byte makes the child exit before execve.
    if (result->release_fd >= 0) close(result->release_fd);
    result->release_fd = -1;
    if (result->report_fd >= 0) close(result->report_fd);
    result->report_fd = -1;
    int status;
    while (waitpid(result->pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (result->pidfd >= 0) close(result->pidfd);
    result->pidfd = -1;
}

// What pid_namespace.c shares with the spawns above (spawn_internal.h).

void corral_child_fail(int pipe_fd, corral_spawn_step step) {
    child_fail(pipe_fd, step);
    _exit(127);
}

int corral_child_off_targets(const corral_spawn_request *request, int fd, int pipe_fd) {
    return child_off_targets(request, fd, pipe_fd);
}

void corral_child_close_all_but(int first, int *keep, int count) { child_close_all_but(first, keep, count); }

void corral_child_exec(const corral_spawn_request *request, int pipe_fd) {
    child_exec(request, pipe_fd, -1);
    _exit(127);
}

int corral_await_exec(corral_spawn_result *result) { return await_exec(result); }
