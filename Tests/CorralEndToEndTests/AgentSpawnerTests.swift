@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

@testable import CorralCore

#if canImport(Glibc)
import Glibc
#endif

/// The spawn itself, below any containment: what a new agent process gets and what it does not,
/// and how each way of failing before execve is reported.
@Suite("Spawning an agent")
struct AgentSpawnerTests {
    /// A file the agent writes its stdout and stderr to.
    final class Output: Sendable {
        let path = NSTemporaryDirectory() + "corral-spawn-" + UUID().uuidString
        let fd: Int32

        init() { fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600) }

        deinit {
            close(fd)
            unlink(path)
        }

        var text: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

        /// Waits until the agent has written `marker` (it writes it last).
        func wait(for marker: String = "END") async -> String? {
            await ProcessProbe.waitUntil { self.text.contains(marker) } ? text : nil
        }
    }

    private func shell(_ script: String, output: Output, environment: [String] = ["PATH=/usr/bin:/bin"]) -> SpawnRequest {
        SpawnRequest(executable: "/bin/sh", arguments: ["sh", "-c", script], environment: environment, outputFD: output.fd)
    }

    @Test func anAgentLeadsItsOwnSessionWithOnlyWhatItIsGiven() async throws {
        let output = Output()
        // A descriptor of the test's own that is not close-on-exec: the agent must not get it.
        let stray = open("/dev/null", O_RDONLY)
        defer { close(stray) }
        let spawned = try AgentSpawner.spawn(
            shell("ls /proc/$$/fd | tr '\\n' ' '; echo; env; echo END; exec sleep 600", output: output, environment: ["PATH=/usr/bin:/bin", "GIVEN=yes"])
        )
        defer {
            spawned.pidFD.killAndReap()
            spawned.pidFD.close()
        }
        let text = try #require(await output.wait())
        #expect(getpgid(spawned.pid) == spawned.pid)
        #expect(getsid(spawned.pid) == spawned.pid)
        #expect(!spawned.startedInCgroup)
        let descriptors = Set(text.split(separator: "\n")[0].split(separator: " ").compactMap { Int32($0) })
        #expect(descriptors.isSuperset(of: [0, 1, 2]))
        #expect(!descriptors.contains(stray), "the agent inherited descriptor \(stray): \(descriptors.sorted())")
        #expect(text.contains("GIVEN=yes"))
        #expect(!text.contains("HOME="), "the agent got an environment variable it was not given")
    }

    @Test func aMissingWorkingDirectoryIsReported() throws {
        let output = Output()
        var request = shell("echo ran", output: output)
        request.workingDirectory = "/nonexistent-" + UUID().uuidString
        #expect {
            _ = try AgentSpawner.spawn(request)
        } throws: { error in
            guard case .childFailed(let step, let cause) = error as? AgentSpawner.Failure else { return false }
            return step == .chdir && cause.errno == ENOENT
        }
        #expect(!output.text.contains("ran"))
    }

    @Test func aFileThatCannotBeExecutedIsReported() throws {
        let output = Output()
        let file = NSTemporaryDirectory() + "corral-not-executable-" + UUID().uuidString
        #expect(FileManager.default.createFile(atPath: file, contents: Data("#!/bin/sh\necho ran\n".utf8), attributes: [.posixPermissions: 0o644]))
        defer { unlink(file) }
        #expect {
            _ = try AgentSpawner.spawn(SpawnRequest(executable: file, arguments: ["agent"], environment: [], outputFD: output.fd))
        } throws: { error in
            guard case .childFailed(let step, let cause) = error as? AgentSpawner.Failure else { return false }
            return step == .exec && cause.errno == EACCES
        }
    }

    @Test(.enabled(if: getuid() == 0, "dropping to another user needs root"))
    func anAgentRunsAsItsUserAndGroups() async throws {
        let output = Output()
        var request = shell("echo \"$(id -u) $(id -g) $(id -G)\"; echo END", output: output)
        request.user = AgentUser(uid: 65534, gid: 65534, groups: [65534, 12345])
        let spawned = try AgentSpawner.spawn(request)
        defer {
            spawned.pidFD.killAndReap()
            spawned.pidFD.close()
        }
        let text = try #require(await output.wait())
        #expect(text.hasPrefix("65534 65534 65534 12345"), "\(text)")
        // The switch is the agent's alone: the test process (corral, in real life) is still root.
        #expect(getuid() == 0 && geteuid() == 0 && getgid() == 0)
    }

    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func anAgentStartsInsideItsCgroup() async throws {
        let cgroup = CgroupSupport.newTestPath()
        #expect(mkdir(cgroup, 0o755) == 0)
        defer { CgroupSupport.removeTree(cgroup) }
        let directory = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(directory) }
        let output = Output()
        var request = shell("cat /proc/$$/cgroup; echo END; exec sleep 600", output: output)
        request.cgroupFD = directory
        let spawned = try AgentSpawner.spawn(request)
        defer {
            spawned.pidFD.killAndReap()
            spawned.pidFD.close()
        }
        #expect(spawned.startedInCgroup)
        let text = try #require(await output.wait())
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("0::") && $0.hasSuffix(cgroup.split(separator: "/").last!) }, "\(text)")
        let members = try String(contentsOfFile: cgroup + "/cgroup.procs", encoding: .utf8)
        #expect(members.split(separator: "\n").contains("\(spawned.pid)"))
    }

    @Test func aCgroupThatCannotBeEnteredIsReportedSoTheCallerCanFallBack() throws {
        // A plain directory instead of a cgroup: there is no cgroup.procs to enter it by.
        let directory = NSTemporaryDirectory() + "corral-not-a-cgroup-" + UUID().uuidString
        #expect(mkdir(directory, 0o755) == 0)
        defer { rmdir(directory) }
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(descriptor) }
        let output = Output()
        var request = shell("echo ran", output: output)
        request.cgroupFD = descriptor
        #expect {
            _ = try AgentSpawner.spawn(request)
        } throws: { error in
            guard case .cgroupRefused = error as? AgentSpawner.Failure else { return false }
            return true
        }
        #expect(!output.text.contains("ran"))
    }

    @Test func aHeldChildWaitsBeforeExecveAndAFailedPlacementKillsIt() throws {
        let output = Output()
        var seen: Int32 = 0
        var request = shell("echo ran", output: output)
        request.placeBeforeExec = { pid throws(CorralError) in
            seen = pid
            // Still the test binary: the agent has not run anything of its own yet.
            let running = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
            #expect(!running.hasSuffix("/sh") && !running.hasSuffix("/dash") && !running.isEmpty, "\(running)")
            throw CorralError(.spawnFailed, "placement refused by the test")
        }
        #expect {
            _ = try AgentSpawner.spawn(request)
        } throws: { error in
            guard case .placementFailed = error as? AgentSpawner.Failure else { return false }
            return true
        }
        #expect(seen > 0)
        // Reaped, not only killed: no process (not even a zombie) is left with that pid.
        #expect(kill(seen, 0) != 0 && errno == ESRCH)
        #expect(!output.text.contains("ran"))
    }

    /// `corral-spawn-probe` (Tests/SpawnProbe), built beside the test bundle.
    static let probe: String = {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("corral-spawn-probe").path
        if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return package.appendingPathComponent(".build/debug/corral-spawn-probe").path
    }()

    static let descriptorCases: [[String]] = {
        var cases = [
            // The vfork-style spawn's stdin slot on 3, where a prewarmed agent's socket goes.
            ["--free=0,1,2,3", "inherit=high"],
            ["--free=0,1,2,3", "inherit=none"],
            // A child held before execve takes the caller's own descriptors.
            ["--held", "stdin=3", "inherit=high"],
            ["--held", "output=3", "inherit=high"],
            ["--held", "output=0", "inherit=none"],
            ["--held", "stdin=0", "inherit=none"],
            ["--held", "stdin=2", "output=1", "inherit=0"],
            ["--held", "stdin=1", "output=2", "inherit=3"],
            // The report and hold pipes on 0-3.
            ["--held", "--free=0,1,2,3", "inherit=high"],
            // Each strategy forced, with the spawn's own descriptors or the sources on 0-3.
            ["--strategy=vfork-clone", "--free=0,1,2,3", "inherit=high"],
            ["--strategy=vfork-whole-table", "--free=0,1,2,3", "inherit=high"],
            ["--strategy=vfork-whole-table", "stdin=3", "output=0", "inherit=1"],
            ["--strategy=fork", "--free=0,1,2,3", "inherit=high"],
            ["--strategy=fork-clone", "--held", "--free=0,1,2,3", "inherit=high"],
            ["--strategy=fork-clone", "stdin=1", "output=2", "inherit=3"],
        ]
        #if arch(x86_64)
        cases.append(["--strategy=vfork-clone3", "--free=0,1,2,3", "inherit=high"])
        #endif
        return cases
    }()

    /// Whatever numbers the spawn's descriptors have (any may be one of the 0-3 the agent gets),
    /// the agent ends up with stdin on 0, its log on 1 and 2, its assignment socket on 3 and
    /// nothing else. Run in a probe process: only a process running nothing else can put its
    /// own descriptors on 0-3.
    @Test(arguments: descriptorCases)
    func everyDescriptorEndsUpOnItsNumberWhateverNumberItHad(_ arguments: [String]) async throws {
        let tag = "run-\(UUID().uuidString)"
        let result = try await CommandRunner.run(Self.probe, arguments, environment: ["CORRAL_TEST_RUN": tag])
        let leftovers = await ProcessProbe.processes(withEnvironment: "CORRAL_TEST_RUN", value: tag)
        ProcessProbe.kill(leftovers)
        #expect(leftovers.isEmpty, "the probe left its agent running")
        #expect(result.status == 0, "\(arguments):\n\(result.output)\(result.errors)")
        #expect(result.output.hasSuffix("right\n"), "\(result.output)")
    }

    @Test func aHeldChildRunsOncePlaced() async throws {
        let output = Output()
        var request = shell("echo END", output: output)
        request.placeBeforeExec = { _ throws(CorralError) in }
        let spawned = try AgentSpawner.spawn(request)
        defer {
            spawned.pidFD.killAndReap()
            spawned.pidFD.close()
        }
        #expect(await output.wait() != nil)
    }
}
