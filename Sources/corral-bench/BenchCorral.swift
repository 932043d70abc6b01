import AsyncHTTPClient
import CorralTestSupport
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The release `corral serve` under test (the tests' `CorralProcess`, started from the release
/// build), with its own data directory and an HTTP client wide enough for the bursts.
final class BenchCorral: Sendable {
    let process: CorralProcess
    let client: HTTPClient

    var pid: Int32 { process.pid }
    var port: Int { process.port }
    /// What corral wrote on stdout and stderr.
    var log: String { process.log }

    static func start(executable: String, directory: String, config: [String: Any], phaseTimings: Bool = false) async throws -> BenchCorral {
        var config = config
        config["data_dir"] = directory + "/data"
        let process = try await CorralProcess.start(
            config: config, directory: directory, environment: phaseTimings ? ["CORRAL_PHASE_TIMINGS": "1"] : [:], executable: executable,
            startTimeout: .seconds(60)
        )
        SignalCleanup.shared.child(process.pid)
        return BenchCorral(process: process, client: makeClient())
    }

    /// A client of its own, whose connections are not yet open (a burst through it pays for
    /// them, as the first burst through `client` does). Shut it down after use.
    static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 128
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }

    private init(process: CorralProcess, client: HTTPClient) {
        self.process = process
        self.client = client
    }

    struct Reply {
        let status: UInt
        let body: ByteBuffer
    }

    func request(_ method: HTTPMethod, _ path: String, body: String? = nil, via other: HTTPClient? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await (other ?? client).execute(request, timeout: .seconds(120))
        return Reply(status: response.status.code, body: try await response.body.collect(upTo: 64 << 20))
    }

    /// Times one request, in milliseconds; throws unless the status is `expect`.
    func timed(_ method: HTTPMethod, _ path: String, body: String? = nil, expect: UInt, via other: HTTPClient? = nil) async throws -> Double {
        let began = ContinuousClock.now
        let reply = try await request(method, path, body: body, via: other)
        let elapsed = (ContinuousClock.now - began).ms
        guard reply.status == expect else { throw BenchError("\(method) \(path): \(reply.status) \(String(buffer: reply.body))") }
        return elapsed
    }

    /// CPU time of corral's threads alive now, in seconds, to the nanosecond (the first field of
    /// each thread's `schedstat`); `usage()` counts in clock ticks (10 ms), too coarse for a
    /// burst of `GET /healthz`.
    func threadsCPUSeconds() -> Double {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        let nanoseconds = tasks.reduce(0) { sum, thread in
            let schedstat = (try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/schedstat", encoding: .utf8)) ?? ""
            return sum + (schedstat.split(separator: " ").first.flatMap { Int($0) } ?? 0)
        }
        return Double(nanoseconds) / 1e9
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
        if await process.terminate(timeout: .seconds(120)) == nil { await process.kill() }
        SignalCleanup.shared.childEnded(process.pid)
        try? await client.shutdown()
    }

    /// What corral printed at exit of where its requests' time went (`--phase-timings`).
    var phaseTimings: [String] {
        log.split(separator: "\n").drop { !$0.hasPrefix("phase timings") }.map(String.init)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
