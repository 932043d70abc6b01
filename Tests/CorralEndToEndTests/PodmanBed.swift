import CorralCore
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// podman as this host runs it (docs: /work/shared/notes/containers.md): as root, with runc on
/// every call (crun refuses hybrid cgroups), the rlimits runc can set, `RUN` steps in chroot
/// isolation. It remembers every container and image it makes and removes them, by name and id,
/// however the test ends.
final class PodmanBed: @unchecked Sendable {
    static let podman = "/usr/bin/podman"
    static let runc = ["/usr/sbin/runc", "/usr/bin/runc"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let repository = SystemdUnitTests.repository.path

    /// Why podman cannot run here, or nil.
    static let unavailableReason: String? = {
        if geteuid() != 0 { return "podman runs containers here as root; the tests do not run as root" }
        if !FileManager.default.isExecutableFile(atPath: podman) { return "podman is not installed (.ci/run installs podman runc busybox-static uidmap)" }
        guard runc != nil else { return "runc is not installed, and crun cannot run on this host's hybrid cgroups" }
        let namespaces = (try? String(contentsOfFile: "/proc/sys/user/max_user_namespaces", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        if namespaces == 0 { return "user namespaces are disabled (user.max_user_namespaces is 0)" }
        for tool in ["/bin/busybox", "/bin/bash", "/usr/bin/python3"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing: the test's base image is made from it"
        }
        return nil
    }()

    let name = "corral-test-" + UUID().uuidString.prefix(8).lowercased()
    let directory = NSTemporaryDirectory() + "corral-podman-" + UUID().uuidString
    private(set) var containers: [String] = []
    private(set) var images: [String] = []

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// `podman --runtime runc ARGUMENTS`.
    func podman(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> CommandRunner.Result {
        try await CommandRunner.run(Self.podman, ["--runtime", Self.runc!] + arguments, timeout: timeout)
    }

    /// As `podman`, failing the test with podman's own words unless it exits 0.
    @discardableResult
    func require(_ arguments: [String], timeout: Duration = .seconds(120), sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let result = try await podman(arguments, timeout: timeout)
        try #require(result.status == 0, "podman \(arguments.joined(separator: " ")): \(result.errors)\(result.output)", sourceLocation: sourceLocation)
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The base image: Tests/Fixtures/container/make-base-root.sh's root, imported (no registry
    /// is reachable, no base image can be pulled).
    func makeBaseImage(for binary: String) async throws -> String {
        let root = directory + "/base-root"
        // Copies of python's library and of the debug binary: minutes on a loaded host (60 s ran out
        // with the other tests and three busy loops beside it).
        let made = try await CommandRunner.run(Self.repository + "/Tests/Fixtures/container/make-base-root.sh", [root, binary], timeout: .seconds(300))
        try #require(made.status == 0, "make-base-root.sh: \(made.errors)")
        let archive = directory + "/base-root.tar"
        let packed = try await CommandRunner.run("/bin/tar", ["-C", root, "-cf", archive, "."], timeout: .seconds(300))
        try #require(packed.status == 0, "tar: \(packed.errors)")
        let tag = "localhost/\(name)-base:latest"
        images.append(tag)
        let id = try await require(["import", "--quiet", archive, tag])
        images.append(id)
        return tag
    }

    /// deploy/container/Containerfile built on `base` with `binary` and the image's own
    /// configuration, installing nothing (the base has it all).
    func buildImage(base: String, binary: String) async throws -> String {
        let context = directory + "/context"
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: binary, toPath: context + "/corral")
        // Smaller layers: the symbols are not needed to run.
        _ = try await CommandRunner.run("/usr/bin/strip", [context + "/corral"], timeout: .seconds(300))
        try FileManager.default.copyItem(atPath: Self.repository + "/deploy/container/corral.json", toPath: context + "/corral.json")
        let tag = "localhost/\(name):latest"
        images.append(tag)
        let id = try await require(
            [
                "build", "--quiet", "--isolation", "chroot", "-f", Self.repository + "/deploy/container/Containerfile",
                "--build-arg", "BASE_IMAGE=\(base)", "--build-arg", "INSTALL_PACKAGES=", "-t", tag, context,
            ],
            timeout: .seconds(300)
        )
        images.append(id)
        return tag
    }

    /// Starts a container in the background, with no added capability and the host's network
    /// (its API is on the host's loopback).
    func run(_ container: String, image: String, options: [String]) async throws {
        containers.append(container)
        try await require(
            ["run", "--detach", "--name", container, "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=8192:8192", "--network", "host"]
                + options + [image]
        )
    }

    /// `podman exec` in `container`: its exit status and output.
    func exec(_ container: String, _ command: [String], environment: [String: String] = [:]) async throws -> CommandRunner.Result {
        try await podman(["exec"] + environment.sorted(by: { $0.key < $1.key }).flatMap { ["--env", "\($0.key)=\($0.value)"] } + [container] + command)
    }

    /// The processes in `container` but the one listing them, as `ps` shows them (`PID COMMAND`).
    func processes(in container: String) async throws -> [String] {
        let listed = try await exec(container, ["ps", "-o", "pid,args"])
        return listed.output.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasSuffix("ps -o pid,args") }
    }

    /// Removes every container and image it made, and its directory.
    func cleanUp() async {
        for container in containers.reversed() { _ = try? await podman(["rm", "--force", "--time", "0", container]) }
        for image in images.reversed() { _ = try? await podman(["rmi", "--force", image]) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
