import AsyncHTTPClient
import CleanSpawn
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The release `corral serve` under test, started with its own data directory and stopped by pid.
final class BenchCorral: @unchecked Sendable {
    let pid: Int32
    let port: Int
    let directory: String
    let client: HTTPClient

    static func start(executable: String, directory: String, config: [String: Any], phaseTimings: Bool = false) async throws -> BenchCorral {
        var config = config
        config["listen"] = "127.0.0.1:0"
        config["data_dir"] = directory + "/data"
        let configFile = directory + "/corral.json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configFile))
        let logFile = directory + "/corral.log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = [executable, "serve", "--config", configFile].map { (argument: String) in strdup(argument) } + [nil]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CORRAL_") }
        if phaseTimings { environment["CORRAL_PHASE_TIMINGS"] = "1" }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: Int32 = 0
        let spawned = withCleanSpawnAttributes { attributes in posix_spawn(&pid, executable, &actions, &attributes, argv, envp) }
        guard spawned == 0 else { throw BenchError("cannot start \(executable)") }
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 128
        let client = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            if let range = log.range(of: "listening on 127.0.0.1:"), let port = Int(log[range.upperBound...].prefix(while: \.isNumber)) {
                return BenchCorral(pid: pid, port: port, directory: directory, client: client)
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                try? await client.shutdown()
                throw BenchError("corral exited at start-up: \(log.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGKILL)
        try? await client.shutdown()
        throw BenchError("corral did not start: \(logFile)")
    }

    private init(pid: Int32, port: Int, directory: String, client: HTTPClient) {
        self.pid = pid
        self.port = port
        self.directory = directory
        self.client = client
    }

    struct Reply {
        let status: UInt
        let body: ByteBuffer
    }

    func request(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(120))
        return Reply(status: response.status.code, body: try await response.body.collect(upTo: 64 << 20))
    }

    /// Times one request, in milliseconds; throws unless the status is `expect`.
    func timed(_ method: HTTPMethod, _ path: String, body: String? = nil, expect: UInt) async throws -> Double {
        let began = ContinuousClock.now
        let reply = try await request(method, path, body: body)
        let elapsed = (ContinuousClock.now - began).ms
        guard reply.status == expect else { throw BenchError("\(method) \(path): \(reply.status) \(String(buffer: reply.body))") }
        return elapsed
    }

    /// Resident memory in bytes and CPU time (user + system) in seconds, from /proc.
    func usage() -> (rss: Int, cpuSeconds: Double) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) }.map { $0 * 1024 } ?? 0
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let fields = stat[stat.index(after: stat.lastIndex(of: ")") ?? stat.startIndex)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpu = fields.count > 13 ? (Double(fields[11]) ?? 0) / ticks + (Double(fields[12]) ?? 0) / ticks : 0
        return (rss, cpu)
    }

    func stop() async {
        await stopChild(pid, grace: .seconds(120))
        try? await client.shutdown()
    }

    /// What corral printed at exit of where its requests' time went (`--phase-timings`).
    var phaseTimings: [String] {
        let log = (try? String(contentsOfFile: directory + "/corral.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").drop { !$0.hasPrefix("phase timings") }.map(String.init)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
