import AsyncHTTPClient
import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// deploy/container/Containerfile, built here and run with podman as an ordinary container: no
/// added capability, default seccomp, /sys/fs/cgroup read-only, corral its first process. Once
/// as the container's root (with the default capabilities: ids map to themselves, all of them),
/// once as an unprivileged user (only its own id maps).
///
/// The binary is the test build's `corral` unless CORRAL_IMAGE_BINARY names another (the
/// release one: `swift build -c release --static-swift-stdlib --product corral`, eleven minutes
/// on this host, too long for CI; the test build's links Swift's runtime dynamically, so the
/// test's base image carries it, see make-base-root.sh).
@Suite("The container image", .serialized)
struct ContainerImageTests {
    static let token = "container-test-token-" + UUID().uuidString
    static let binary = ProcessInfo.processInfo.environment["CORRAL_IMAGE_BINARY"] ?? CorralProcess.executable

    /// The escaping agents, each with the number of processes (init included) it has once set up.
    static let escapers: [(agent: String, settled: Int)] = [
        ("setsid-child", 4), ("double-fork", 3), ("fork-100", 102), ("ignore-term-everywhere", 4), ("orphan-setsid", 3),
    ]

    /// corral's configuration in the container: the fixture agents (mounted at /agents), a
    /// session that ends by itself after a while, `drain` on SIGTERM.
    static func configuration(port: Int, tag: String) -> [String: Any] {
        let environment = ["CORRAL_TEST_RUN": tag]
        var agents: [String: Any] = [
            "sleeper": ["command": ["sleep", "1000"], "env": environment],
            "finishing": ["command": ["/bin/sh", "-c", "sleep 6"], "env": environment],
        ]
        for (name, file) in TestAgents.escapers.merging(TestAgents.traceless, uniquingKeysWith: { $1 }) {
            agents[name] = ["command": ["/agents/" + file], "env": environment]
            agents[name + "-exits"] = ["command": ["/agents/" + file, "exit"], "env": environment]
        }
        return [
            "listen": "127.0.0.1:\(port)", "data_dir": "/var/lib/corral", "store": "sqlite:corral.db",
            "api_token_file": "/var/run/secrets/corral/api-token", "shutdown": "drain", "drain_timeout_seconds": 60,
            "grace_seconds": 1, "default_agent": "sleeper", "agents": agents,
        ]
    }

    /// The directories a container gets: its configuration, token and data, owned by `uid`.
    static func prepare(_ bed: PodmanBed, _ container: String, port: Int, tag: String, uid: uid_t) throws -> [String] {
        let base = bed.directory + "/" + container
        for directory in ["config", "secret", "data"] {
            try FileManager.default.createDirectory(atPath: base + "/" + directory, withIntermediateDirectories: true)
            chown(base + "/" + directory, uid, uid)
        }
        let config = try JSONSerialization.data(withJSONObject: configuration(port: port, tag: tag), options: [.prettyPrinted])
        try config.write(to: URL(fileURLWithPath: base + "/config/corral.json"))
        try Data(token.utf8).write(to: URL(fileURLWithPath: base + "/secret/api-token"))
        chown(base + "/secret/api-token", uid, uid)
        chmod(base + "/secret/api-token", 0o400)
        let repository = PodmanBed.repository
        return [
            "--volume", "\(base)/config:/etc/corral:ro", "--volume", "\(base)/secret:/var/run/secrets/corral:ro",
            "--volume", "\(base)/data:/var/lib/corral", "--volume", "\(repository)/Tests/Fixtures/agents:/agents:ro",
            "--volume", "\(repository)/scripts:/checks/scripts:ro", "--volume", "\(repository)/clients:/checks/clients:ro",
        ]
    }

    @Test(.enabled(if: PodmanBed.unavailableReason == nil, "\(PodmanBed.unavailableReason ?? "")"), .timeLimit(.minutes(10)))
    func theImageContainsEverySessionAndDrains() async throws {
        let bed = try PodmanBed()
        let tag = "container-" + UUID().uuidString
        do {
            print("note: the image is built with \(Self.binary)")
            let base = try await bed.makeBaseImage(for: Self.binary)
            let image = try await bed.buildImage(base: base, binary: Self.binary)
            try await Self.asRoot(bed, image: image, tag: tag)
            try await Self.asUnprivilegedUser(bed, image: image, tag: tag)
            // Nothing of any session is left on the host: no process carries the run's tag or a
            // traceless orphan's argument.
            let left = ProcFS.allPIDs().filter { pid in
                ProcFS.environmentValue(pid, "CORRAL_TEST_RUN") == tag || ProcFS.commandLine(pid)?.contains { $0.hasPrefix("orphan-container-") } == true
            }
            ProcessProbe.kill(left)
            #expect(left.isEmpty, "processes of the containers' sessions left on the host: \(left)")
        } catch {
            await bed.cleanUp()
            throw error
        }
        await bed.cleanUp()
        #expect(try await bed.podman(["ps", "--all", "--quiet", "--filter", "name=\(bed.name)"]).output.isEmpty)
    }

    /// As the container's root: the seed's checks inside, every escaping agent ended with
    /// nothing left, and SIGTERM draining to an exit 0.
    static func asRoot(_ bed: PodmanBed, image: String, tag: String) async throws {
        let container = bed.name + "-root"
        let port = RedisServer.freePort()
        try await bed.run(container, image: image, options: try prepare(bed, container, port: port, tag: tag, uid: 0))
        let api = ContainerAPI(port: port, token: token)
        try await Self.requireReady(api, bed, container)

        let doctor = try await bed.exec(container, ["/usr/local/bin/corral", "doctor"])
        #expect(doctor.output.contains("containment: pid-namespace"), "\(doctor.output)")
        #expect(doctor.output.contains("corral serve is its first process"), "\(doctor.output)")

        // The seed's checks, run inside (they read the container's /proc and corral's store).
        let seed = try await bed.exec(
            container, ["/checks/scripts/test-termination.sh", "--agent", "setsid-child", "--store", "sqlite:corral.db", "--data-dir", "/var/lib/corral"],
            environment: ["CORRAL_TOKEN": token, "CORRAL_URL": "http://127.0.0.1:\(port)"]
        )
        #expect(seed.status == 0 && !seed.output.contains("[FAIL]"), "\(seed.output)\(seed.errors)")

        // Every escaping agent, ended, then one that exits by itself: nothing but corral is left.
        for (agent, settled) in escapers {
            let session = try await api.start(agent, id: "container-\(agent)")
            #expect(session["containment"] as? String == "pid-namespace", "\(session)")
            #expect(await api.waitUntilProcesses(of: "container-\(agent)", atLeast: settled, including: agent == "orphan-setsid" ? "orphan-container-orphan-setsid" : nil))
            #expect(try await api.request(.DELETE, "/api/sessions/container-\(agent)").status == .ok)
            #expect(try await bed.processes(in: container) == ["1 /usr/local/bin/corral serve"], "after \(agent)")
        }
        _ = try await api.start("orphan-setsid-exits", id: "container-exits")
        #expect(await ProcessProbe.waitUntil { (try? await api.request(.GET, "/api/sessions/container-exits"))?.status == .notFound })
        #expect(try await bed.processes(in: container) == ["1 /usr/local/bin/corral serve"])

        // SIGTERM drains: unready at once, new starts refused, the running session finishes by
        // itself, then corral exits 0 (well before drain_timeout_seconds).
        _ = try await api.start("finishing", id: "container-finishing")
        let began = ContinuousClock.now
        try await bed.require(["kill", "--signal", "TERM", container])
        #expect(await ProcessProbe.waitUntil { (try? await api.request(.GET, "/readyz"))?.status == .serviceUnavailable })
        #expect(try await api.request(.POST, "/api/sessions", body: #"{"agent": "sleeper"}"#).status == .serviceUnavailable)
        #expect(try await api.request(.GET, "/api/sessions/container-finishing").status == .ok, "the running session was ended, not drained")
        let exit = try await bed.require(["wait", container], timeout: .seconds(90))
        let log = try await bed.podman(["logs", container]).errors
        #expect(exit == "0", "corral exited with \(exit): \(log.suffix(3000))")
        #expect(ContinuousClock.now - began < .seconds(50), "corral waited for drain_timeout_seconds: the session did not finish by itself")
        #expect(log.contains("session=container-finishing") && log.contains("reason=exited"), "\(log.suffix(3000))")
    }

    static func requireReady(_ api: ContainerAPI, _ bed: PodmanBed, _ container: String) async throws {
        guard await api.waitUntilReady() else {
            let log = try await bed.podman(["logs", container])
            Issue.record("corral did not become ready in \(container): \(log.output)\(log.errors)")
            throw CancellationError()
        }
    }

    /// As an unprivileged user (no capability at all): only its own uid maps into the sessions'
    /// user namespaces, and the orphan that leaves no trace is still ended.
    static func asUnprivilegedUser(_ bed: PodmanBed, image: String, tag: String) async throws {
        let container = bed.name + "-user"
        let port = RedisServer.freePort()
        let options = try prepare(bed, container, port: port, tag: tag, uid: 10001)
        try await bed.run(container, image: image, options: ["--user", "10001:10001"] + options)
        let api = ContainerAPI(port: port, token: token)
        try await Self.requireReady(api, bed, container)
        let session = try await api.start("orphan-setsid", id: "container-user")
        #expect(session["containment"] as? String == "pid-namespace", "\(session)")
        let pid = session["pid"] as? Int ?? 0
        #expect(await api.waitUntilProcesses(of: "container-user", atLeast: 3, including: "orphan-container-user"))
        let map = try await bed.exec(container, ["cat", "/proc/\(pid)/uid_map"])
        #expect(map.output.split(whereSeparator: \.isWhitespace) == ["10001", "10001", "1"], "\(map.output)\(map.errors)")
        #expect(try await api.request(.DELETE, "/api/sessions/container-user").status == .ok)
        #expect(try await bed.processes(in: container) == ["1 /usr/local/bin/corral serve"])
        try await bed.require(["kill", "--signal", "TERM", container])
        #expect(try await bed.require(["wait", container], timeout: .seconds(90)) == "0")
    }
}

/// corral's API in a container, on the host's loopback.
struct ContainerAPI: Sendable {
    let port: Int
    let token: String

    struct Reply: Sendable {
        let status: HTTPResponseStatus
        let text: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    }

    func request(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await TestHTTP.client.execute(request, timeout: .seconds(30))
        return Reply(status: response.status, text: String(buffer: try await response.body.collect(upTo: 16 << 20)))
    }

    func waitUntilReady() async -> Bool {
        await ProcessProbe.waitUntil(timeout: .seconds(60)) { (try? await request(.GET, "/readyz"))?.status == .ok }
    }

    func start(_ agent: String, id: String) async throws -> [String: Any] {
        let reply = try await request(.POST, "/api/sessions", body: #"{"agent": "\#(agent)", "session_id": "\#(id)"}"#)
        try #require(reply.status == .created, "POST /api/sessions \(agent): \(reply.status) \(reply.text)")
        return reply.json
    }

    /// Waits until the inspection lists `count` processes of the session, one of them with
    /// `argument` if given.
    func waitUntilProcesses(of id: String, atLeast count: Int, including argument: String? = nil) async -> Bool {
        await ProcessProbe.waitUntil(timeout: .seconds(30)) {
            let listed = (try? await request(.GET, "/api/debug/session/\(id)/processes"))?.json["child_processes"] as? [[String: Any]] ?? []
            guard listed.count >= count else { return false }
            return argument.map { marker in listed.contains { ($0["cmd"] as? String)?.contains(marker) == true } } ?? true
        }
    }
}
