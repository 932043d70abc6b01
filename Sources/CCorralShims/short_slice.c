// A short scheduler slice for the threads that start agents.
//
// A spawning thread sleeps in the vfork-style clone until the child has called execve; the
// child then goes on as the agent, often on the same CPU, and the kernel (EEVDF, Linux 6.6 and
// later) lets it run out its slice (about 1 ms of the agent's own start: the dynamic loader, an
// interpreter) before the woken thread gets the CPU back, and again at the thread's next
// preemption point while it registers the agent. Measured on the 2-vCPU development host: a
// clone until execve took 1.1-1.3 ms, 0.3-0.4 ms when the thread runs at once. A task with a
// shorter slice than the one running preempts it on wake-up (custom slices, Linux 6.12), so the
// spawner's threads ask for the shortest slice once; each child gives the default one back
// before execve, so no agent inherits it. On older kernels the request is ignored.
#define _GNU_SOURCE
#include "corral_shims.h"
#include "spawn_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// The kernel's lower bound for a custom slice.
enum { SHORTEST_SLICE_NS = 100 * 1000 };

// struct sched_attr (SCHED_ATTR_SIZE_VER0); not in every libc's headers.
struct slice_attributes {
    uint32_t size;
    uint32_t policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime;
    uint64_t deadline;
    uint64_t period;
};

// Sets the calling thread's slice (0: the default), keeping its policy and nice value. Raw
// syscalls only: a child runs this before execve.
static int set_slice(uint64_t runtime, int only_if_short) {
    struct slice_attributes attributes;
    memset(&attributes, 0, sizeof(attributes));
    if (syscall(SYS_sched_getattr, 0, &attributes, sizeof(attributes), 0) != 0) return errno;
    // Real-time and deadline threads are left as they are.
    if (attributes.policy != SCHED_OTHER && attributes.policy != SCHED_BATCH) return EPERM;
    if (only_if_short && attributes.runtime != SHORTEST_SLICE_NS) return 0;
    attributes.size = sizeof(attributes);
    attributes.flags = 0;
    attributes.runtime = runtime;
    return syscall(SYS_sched_setattr, 0, &attributes, 0) == 0 ? 0 : errno;
}

int corral_thread_shorten_slice(void) { return set_slice(SHORTEST_SLICE_NS, 0); }

void corral_child_default_slice(void) { (void)set_slice(0, 1); }
