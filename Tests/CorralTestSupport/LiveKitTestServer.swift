import AsyncHTTPClient
import CleanSpawn
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// `Tests/Fixtures/livekit_test_server.py` (the agent side of a LiveKit server, with a control
/// API), or another such script, as a child of the test, run by the LiveKit venv's python and
/// stopped by its pid. `stop()` then `start()` again is a server restart on the same port.
public final class LiveKitTestServer: @unchecked Sendable {
    public static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    public static let script = fixtures + "/livekit_test_server.py"
    /// A server that takes a worker's register message and never answers it.
    public static let silentScript = fixtures + "/livekit_silent_server.py"

    public let script: String
    /// The python that runs it: the LiveKit venv's unless given.
    public let python: String?
    public let apiKey: String
    public let apiSecret: String
    public let extraArguments: [String]
    /// The port: the one given, or else fixed by the first start.
    public private(set) var port: Int
    public private(set) var pid: Int32 = 0
    /// The TLS port, when started with `--tls-port` (`wss://`).
    public private(set) var tlsPort: Int?
    private let directory: String
    private var runs = 0

    public var url: String { "ws://127.0.0.1:\(port)" }

    public init(
        script: String = LiveKitTestServer.script,
        apiKey: String = "APIcorraltest",
        apiSecret: String = "corral-test-secret-0123456789-0123456789",
        extraArguments: [String] = [],
        port: Int = 0,
        python: String? = livekitAgentsPython
    ) {
        self.port = port
        self.python = python
        self.script = script
        self.apiKey = apiKey
        self.apiSecret = apiSecret
        self.extraArguments = extraArguments
        directory = NSTemporaryDirectory() + "livekit-test-server-" + UUID().uuidString
    }

    /// Starts it (on its earlier port, after a stop) and waits for its ready line.
    @discardableResult
    public func start() async throws -> LiveKitTestServer {
        guard let python else { throw SystemErrorDescription(livekitAgentsSkipped) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        runs += 1
        let output = directory + "/out-\(runs)", errors = directory + "/err-\(runs)"
        let arguments = [python, script, "--port", String(port), "--api-key", apiKey, "--api-secret", apiSecret] + extraArguments
        let child: Int32
        do {
            child = try spawnChild(arguments, output: .file(output), errors: .file(errors))
        } catch {
            throw SystemErrorDescription("cannot start \(script): \(error)")
        }
        pid = child
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first,
                let ready = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let readyPort = ready["port"] as? Int
            {
                port = readyPort
                tlsPort = ready["tls_port"] as? Int
                return self
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                throw SystemErrorDescription("the LiveKit test server exited at start-up: \(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        await stop()
        throw SystemErrorDescription("the LiveKit test server did not get ready: \(log)")
    }

    /// What the server printed on stderr in its latest run.
    public var log: String { (try? String(contentsOfFile: directory + "/err-\(runs)", encoding: .utf8)) ?? "" }

    /// Stops it (SIGTERM, then SIGKILL) and reaps it.
    public func stop() async {
        await stopChild(pid)
        pid = 0
    }

    /// Stops it and removes its files.
    public func remove() async {
        await stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `body` with a started server, always stopping it.
    public static func with<T>(
        script: String = LiveKitTestServer.script,
        extraArguments: [String] = [],
        _ body: (LiveKitTestServer) async throws -> T
    ) async throws -> T {
        let server = LiveKitTestServer(script: script, extraArguments: extraArguments)
        do {
            try await server.start()
            let result = try await body(server)
            await server.remove()
            return result
        } catch {
            await server.remove()
            throw error
        }
    }

    /// A control API request; the answer's JSON object. Throws on a status other than `expect`.
    @discardableResult
    public func control(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil, expect: Int = 200, timeout: Duration = .seconds(60))
        async throws -> [String: Any]
    {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await TestHTTP.client.execute(request, timeout: .init(timeout))
        let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
        guard Int(response.status.code) == expect else {
            throw SystemErrorDescription("\(method) \(path): \(response.status.code) \(text)")
        }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    /// The workers the server knows (connected or not), as `/control/workers` shows them.
    public func workers() async throws -> [[String: Any]] {
        try await control(.GET, "/control/workers")["workers"] as? [[String: Any]] ?? []
    }

    /// One job, as `/control/jobs/ID` shows it.
    public func job(_ id: String) async throws -> [String: Any] {
        try await control(.GET, "/control/jobs/\(id)")
    }
}
