import CCorralShims
@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Synchronization
import Testing

@testable import CorralCore

#if canImport(Glibc)
import Glibc
#endif

/// Every way the spawn can create an agent, forced one at a time, so that each runs here
/// whatever this host would pick by itself: each agent must end up in its cgroup, leading its
/// own session and process group, with stdin, its log and its inherited socket and nothing else.
@Suite("Spawn strategies")
struct SpawnStrategyTests {
    /// A cgroup of the test's own below the test root, removed (with whatever is in it) at the end.
    final class TestCgroup: Sendable {
        let path = CgroupSupport.newTestPath()
        let fd: Int32

        init() throws {
            try #require(mkdir(path, 0o755) == 0, "cannot create \(path): \(String(cString: strerror(errno)))")
            fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }

        private let removed = Atomic<Bool>(false)

        /// Removes the cgroup (killing what is in it) now; it is removed at deinit otherwise.
        func remove() {
            guard !removed.exchange(true, ordering: .sequentiallyConsistent) else { return }
            close(fd)
            CgroupSupport.removeTree(path)
        }

        deinit { remove() }

        /// Moves `pid` in, as the attach placement does.
        func attach(_ pid: Int32) throws(CorralError) {
            do {
                try String(pid).write(toFile: path + "/cgroup.procs", atomically: false, encoding: .utf8)
            } catch {
                throw CorralError(.spawnFailed, "cannot attach \(pid) to \(path): \(error)")
            }
        }
    }

    /// How a case places the agent into its cgroup.
    enum Placement: String, CustomTestStringConvertible {
        /// The spawn starts it inside (`cgroupFD`).
        case spawn
        /// Held before execve and attached (`CgroupContainment.Placement.attachBeforeExec`).
        case attach
        /// Started inside, and held to be placed into more (the v1 limit cgroups).
        case spawnAndHold

        var testDescription: String { rawValue }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let strategy: SpawnStrategy
        let placement: Placement
        /// What the spawn reports it used.
        let expected: SpawnStrategy

        var testDescription: String { "\(strategy.testDescription) (\(placement.rawValue))" }
    }

    static let cases: [Case] = {
        #if arch(x86_64)
        let vfork: SpawnStrategy = .vforkClone3
        #else
        let vfork: SpawnStrategy = .vforkClone
        #endif
        var cases: [Case] = [
            Case(strategy: .automatic, placement: .spawn, expected: vfork),
            Case(strategy: .vforkClone, placement: .spawn, expected: .vforkClone),
            Case(strategy: .vforkWholeTable, placement: .spawn, expected: .vforkWholeTable),
            Case(strategy: .fork, placement: .spawn, expected: .fork),
            Case(strategy: .automatic, placement: .attach, expected: .fork),
            Case(strategy: .fork, placement: .spawnAndHold, expected: .fork),
            Case(strategy: .forkClone, placement: .attach, expected: .forkClone),
        ]
        #if arch(x86_64)
        cases.append(Case(strategy: .vforkClone3, placement: .spawn, expected: .vforkClone3))
        #endif
        return cases
    }()

    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"), arguments: cases)
    func anAgentStartedThisWayIsWhereItBelongsWithOnlyItsDescriptors(_ testCase: Case) async throws {
        let cgroup = try TestCgroup()
        let output = AgentSpawnerTests.Output()
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        defer { for fd in pair { close(fd) } }
        // A descriptor of the test's own that is not close-on-exec: no strategy may pass it on.
        let stray = open("/dev/null", O_RDONLY)
        defer { close(stray) }

        let script = "echo FDS; ls /proc/$$/fd; echo CGROUP; grep '^0::' /proc/$$/cgroup; echo SOCKET; readlink /proc/$$/fd/3; echo END; exec sleep 600"
        var request = SpawnRequest(executable: "/bin/sh", arguments: ["sh", "-c", script], environment: ["PATH=/usr/bin:/bin"], outputFD: output.fd)
        request.strategy = testCase.strategy
        request.inheritedFD = (pair[0], 3)
        let placed = PlacedPIDs()
        switch testCase.placement {
        case .spawn:
            request.cgroupFD = cgroup.fd
        case .attach:
            request.placeBeforeExec = { pid throws(CorralError) in
                placed.add(pid)
                try cgroup.attach(pid)
            }
        case .spawnAndHold:
            request.cgroupFD = cgroup.fd
            request.placeBeforeExec = { pid throws(CorralError) in placed.add(pid) }
        }

        let spawned = try AgentSpawner.spawn(request)
        defer {
            spawned.pidFD.killAndReap()
            spawned.pidFD.close()
        }
        #expect(spawned.strategy == testCase.expected)
        #expect(placed.pids == (testCase.placement == .spawn ? [] : [spawned.pid]))
        let text = try #require(await output.wait(), "the agent wrote nothing: \(output.text)")
        let sections = Self.sections(text)
        #expect(getpgid(spawned.pid) == spawned.pid)
        #expect(getsid(spawned.pid) == spawned.pid)
        #expect(Set(sections["FDS"] ?? []) == ["0", "1", "2", "3"], "\(text)")
        #expect(sections["SOCKET"]?.first?.hasPrefix("socket:") == true, "\(text)")
        let relative = "/" + cgroup.path.split(separator: "/").last!
        #expect(sections["CGROUP"]?.first?.hasSuffix(relative) == true, "\(text)")
        let members = try String(contentsOfFile: cgroup.path + "/cgroup.procs", encoding: .utf8)
        #expect(members.split(separator: "\n").contains("\(spawned.pid)"))
    }

    @Test func aForcedStrategyThatCannotBeHadFailsInsteadOfFallingBack() throws {
        let output = AgentSpawnerTests.Output()
        var request = SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [], outputFD: output.fd)
        // A held child shares nothing with its parent: it cannot be started vfork-style.
        request.strategy = .vforkClone
        request.placeBeforeExec = { _ throws(CorralError) in }
        #expect {
            _ = try AgentSpawner.spawn(request)
        } throws: { error in
            guard case .system(let cause) = error as? AgentSpawner.Failure else { return false }
            return cause.errno == EINVAL
        }
    }

    /// The lines after each `NAME` marker the agent printed, up to the next one.
    static func sections(_ text: String) -> [String: [String]] {
        var sections: [String: [String]] = [:]
        var current: String?
        for line in text.split(separator: "\n").map(String.init) {
            if ["FDS", "CGROUP", "SOCKET", "END"].contains(line) {
                current = line
                sections[line] = []
            } else if let current {
                sections[current, default: []].append(line)
            }
        }
        return sections
    }
}

/// The pids a placement closure was called with.
final class PlacedPIDs: Sendable {
    private let state = Mutex<[Int32]>([])
    func add(_ pid: Int32) { state.withLock { $0.append(pid) } }
    var pids: [Int32] { state.withLock { $0 } }
}

extension SpawnStrategy: @retroactive CustomTestStringConvertible {
    public var testDescription: String {
        switch self {
        case .automatic: "automatic"
        case .vforkClone3: "vfork-style clone3"
        case .vforkClone: "vfork-style clone"
        case .vforkWholeTable: "vfork-style, whole table"
        case .fork: "fork-style clone3"
        case .forkClone: "fork-style clone"
        }
    }
}
