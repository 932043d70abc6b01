#if canImport(Glibc)
import Glibc
#endif

/// posix_spawn attributes for a child that starts clean: no blocked signals and default
/// dispositions. Without them a child inherits the calling thread's mask, and Swift's worker
/// threads block almost every signal: a `sleep` spawned that way ignores SIGTERM.
public func withCleanSpawnAttributes<R>(setsid: Bool = false, _ body: (inout posix_spawnattr_t) -> R) -> R {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &empty)
    posix_spawnattr_setsigdefault(&attributes, &all)
    // POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF, and POSIX_SPAWN_SETSID (0x80, glibc).
    var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
    if setsid { flags |= 0x80 }
    posix_spawnattr_setflags(&attributes, flags)
    return body(&attributes)
}
