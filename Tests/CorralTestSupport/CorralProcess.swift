import AsyncHTTPClient
import CleanSpawn
import CorralCore
import CorralPlatform
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The real `corral serve` binary, started as a child of the test (in the test's own kernel
/// session, so corral's own reaper leaves it alone) and stopped by pid: for crash and shutdown
/// tests.
public final class CorralProcess: @unchecked Sendable {
    public let pid: Int32
    public let port: Int
    public let configFile: String
    public let logFile: String
    private var reaped = false

    /// The `corral` executable next to the test bundle (`swift test` builds it).
    public static let executable: String = {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("corral").path
        if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return package.appendingPathComponent(".build/debug/corral").path
    }()

    /// Starts corral with `config` (written to a file; `listen` is set to a free port) and waits
    /// until it serves. `environment` is added to the test's own, without its `CORRAL_*` and
    /// without what would make corral report to a service manager running the tests.
    /// With `cgroup`, corral starts in that cgroup (v2 directory), as systemd starts a unit's
    /// main process in the unit's cgroup. Without `config`, corral runs on its embedded defaults
    /// with no file (`CORRAL_LISTEN` picks the port). corral runs in `workingDirectory`, else in
    /// the test's own. `launcher` runs before corral and ends by running the rest of its
    /// arguments (`unshare … sh -c '… exec "$@"' sh`), so that `pid` is the launcher's.
    /// `executable` is another build of corral (the benchmark's release build).
    public static func start(
        config: [String: Any]?,
        directory: String,
        environment extra: [String: String] = [:],
        cgroup: String? = nil,
        workingDirectory: String? = nil,
        launcher: [String] = [],
        executable: String = CorralProcess.executable,
        startTimeout: Duration = .seconds(30)
    ) async throws -> CorralProcess {
        var extra = extra
        let configFile = directory + "/corral-\(UUID().uuidString).json"
        if var config {
            config["listen"] = "127.0.0.1:0"
            try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: configFile))
        } else {
            extra["CORRAL_LISTEN"] = "127.0.0.1:0"
        }
        // A log per run: a restarted corral must not be read from its predecessor's log.
        let logFile = directory + "/corral-\(UUID().uuidString).log"
        let arguments = launcher + CorralProcess.command(["serve"] + (config == nil ? [] : ["--config", configFile]), inCgroup: cgroup, executable: executable)
        let notInherited: Set = ["SESSION_TIMEOUT", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CORRAL_") && !notInherited.contains($0.key) }
            .merging(extra) { $1 }
        let pid: Int32
        do {
            pid = try spawnChild(
                arguments, environment: environment, workingDirectory: workingDirectory,
                output: .file(logFile, append: true), errors: .standardOutput
            )
        } catch {
            throw CorralError(.spawnFailed, "cannot start \(executable)", underlying: SystemError("posix_spawn", errno: error.errno))
        }
        let process = CorralProcess(pid: pid, port: 0, configFile: configFile, logFile: logFile)
        let deadline = ContinuousClock.now + startTimeout
        while ContinuousClock.now < deadline {
            if let port = process.listeningPort() {
                return CorralProcess(pid: pid, port: port, configFile: configFile, logFile: logFile)
            }
            if process.exited() {
                throw CorralError(.spawnFailed, "corral exited at start-up: \(process.log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        await process.kill()
        throw CorralError(.spawnFailed, "corral did not start listening: \(process.log)")
    }

    /// `corral arguments…`, or, in `cgroup`, a shell that moves itself there and becomes corral
    /// (same pid).
    public static func command(_ arguments: [String], inCgroup cgroup: String?, executable: String = CorralProcess.executable) -> [String] {
        guard let cgroup else { return [executable] + arguments }
        return ["/bin/sh", "-c", #"echo $$ > "$0/cgroup.procs" && exec "$@""#, cgroup, executable] + arguments
    }

    private init(pid: Int32, port: Int, configFile: String, logFile: String) {
        self.pid = pid
        self.port = port
        self.configFile = configFile
        self.logFile = logFile
    }

    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    private func listeningPort() -> Int? {
        guard let range = log.range(of: "listening on 127.0.0.1:") else { return nil }
        return Int(log[range.upperBound...].prefix(while: \.isNumber))
    }

    /// SIGKILL, as a crash would, and reap.
    public func kill() async {
        if !reaped { Glibc.kill(pid, SIGKILL) }
        await waitForExit(timeout: .seconds(10))
    }

    /// SIGTERM and wait; returns the exit status, or nil if it did not exit in time.
    public func terminate(timeout: Duration = .seconds(30)) async -> Int32? {
        if !reaped { Glibc.kill(pid, SIGTERM) }
        return await waitForExit(timeout: timeout)
    }

    public func exited() -> Bool {
        reapIfExited() != nil
    }

    /// Waits for the child's exit (the process is the test's own child), polling without
    /// holding a thread of the test's concurrency pool.
    @discardableResult
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = reapIfExited() { return status }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    private var status: Int32?

    private func reapIfExited() -> Int32? {
        if reaped { return status }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        reaped = true
        self.status = status
        return status
    }

    public struct Reply: Sendable {
        public let status: Int
        public let text: String
        /// Every field, names as sent.
        public var fields: [(name: String, value: String)] = []

        /// The values of the fields named `name` (case ignored), in order.
        public func header(_ name: String) -> [String] {
            fields.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        }
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        }
    }

    public func request(
        _ method: HTTPMethod,
        _ path: String,
        body: String? = nil,
        headers: [String: String] = [:],
        timeout: Duration = .seconds(20)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            // What curl -H 'content-type: application/json' -d and the CLI send.
            if !request.headers.contains(name: "Content-Type") { request.headers.add(name: "Content-Type", value: "application/json") }
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await TestHTTP.client.execute(request, timeout: .init(timeout))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), text: String(buffer: bytes), fields: response.headers.map { ($0.name, $0.value) })
    }

    /// Starts a session; fails unless the answer is 201.
    public func start(_ body: String, headers: [String: String] = [:]) async throws -> [String: Any] {
        let reply = try await request(.POST, "/api/sessions", body: body, headers: headers)
        guard reply.status == 201 else { throw CorralError(.spawnFailed, "POST /api/sessions: \(reply.status) \(reply.text)") }
        return reply.json
    }

    public func sessions() async throws -> [[String: Any]] {
        try await request(.GET, "/api/sessions").json["sessions"] as? [[String: Any]] ?? []
    }
}

/// The tests' HTTP client: a refused connection (a corral that was just killed) fails at once,
/// and a body that stops arriving fails after 2 minutes (a request's deadline covers only its
/// head: a body that never ended held its test, and the whole run, forever; an event stream
/// sends a keep-alive every 15 s).
public enum TestHTTP {
    public static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(120))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()
}
