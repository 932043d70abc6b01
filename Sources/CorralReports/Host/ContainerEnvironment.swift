import CorralPlatform
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Whether corral runs in a container, and as its first process, from what the runtimes leave
/// behind: the `container` variable (podman, systemd-nspawn, LXC), `/run/.containerenv` (podman),
/// `/.dockerenv` (Docker), `KUBERNETES_SERVICE_HOST` (every pod), or being PID 1 of a pid namespace
/// that is not the host's. In a container, corral's sessions die with it: its pid namespace ends
/// with PID 1, so `shutdown: detach` cannot keep them for the next corral.
public struct ContainerEnvironment: Sendable, Equatable {
    /// What told: "podman", "docker", "kubernetes", the `container` variable's value, or "a pid
    /// namespace of its own".
    public let runtime: String
    /// `corral serve` is the container's first process (it reaps every orphan of the container):
    /// this process, or, for `corral doctor` run beside it, PID 1's command line.
    public let corralIsFirstProcess: Bool

    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) -> ContainerEnvironment? {
        let isPID1 = getpid() == 1
        let first = ProcFS.commandLine(1) ?? []
        let corralIsFirst = isPID1 || (first.count >= 2 && first[0].split(separator: "/").last == "corral" && first[1] == "serve")
        let runtime: String? =
            if access("/run/.containerenv", F_OK) == 0 { "podman" }
            else if access("/.dockerenv", F_OK) == 0 { "docker" }
            else if environment["KUBERNETES_SERVICE_HOST"] != nil { "kubernetes" }
            else if let name = environment["container"], !name.isEmpty { name }
            else if isPID1 { "a pid namespace of its own" }
            else { nil }
        return runtime.map { ContainerEnvironment(runtime: $0, corralIsFirstProcess: corralIsFirst) }
    }

    /// What `detach` does here.
    public static let detachWarning =
        "in a container, `detach` cannot keep sessions across a restart: they live in the container's pid namespace, which ends "
        + "with its first process; use `drain` (Kubernetes: terminationGracePeriodSeconds above drain_timeout_seconds + grace_seconds)"
}
