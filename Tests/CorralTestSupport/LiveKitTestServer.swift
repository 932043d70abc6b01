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
/// stopped by its pid. `stop()` then `start()` again is a server restart on the same port: the
/// test binds the port and passes the socket to each run (`--listen-fd`), so that no other
/// process can take it while the server is down (connections made meanwhile wait in its backlog
/// for the next run).
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
    /// Bound at the first start, closed by `remove()`.
    private var listener: Int32 = -1

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
        if listener < 0 { (listener, port) = try Self.bindLoopback(port) }
        let arguments = [python, script, "--listen-fd", "3", "--api-key", apiKey, "--api-secret", apiSecret] + extraArguments
        let child: Int32
        do {
            child = try spawnChild(arguments, output: .file(output), errors: .file(errors), passing: listener)
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

    /// Stops it, gives up its port and removes its files.
    public func remove() async {
        await stop()
        if listener >= 0 { close(listener) }
        listener = -1
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A TCP socket bound to 127.0.0.1:`port` (0: any free port), not listening yet, and its port.
    public static func bindLoopback(_ port: Int) throws -> (descriptor: Int32, port: Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemErrorDescription("socket: \(String(cString: strerror(errno)))") }
        var reuse: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Glibc.bind(descriptor, address, length) == 0 && getsockname(descriptor, address, &length) == 0
            }
        }
        guard bound else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw SystemErrorDescription("cannot bind 127.0.0.1:\(port) for the LiveKit test server: \(reason)")
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
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
