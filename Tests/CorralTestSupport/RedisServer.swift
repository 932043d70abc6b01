import CleanSpawn
import Foundation
import RedisClient

#if canImport(Glibc)
import Glibc
#endif

/// A real `redis-server` for one test, on a free loopback port, stopped by its pid.
public final class RedisServer: @unchecked Sendable {
    public static let executable = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
    public static var available: Bool { executable != nil }
    public static let unavailableReason = "redis-server is not installed (apt-get install redis-server); the Redis tests are skipped"

    public private(set) var port: Int
    public let password: String?
    /// The port came from `freePort`, so another may be tried: between the look and redis
    /// binding it, a parallel test's outgoing connection can take it.
    private let portIsOurs: Bool
    public private(set) var pid: Int32 = 0

    public var url: String { "redis://\(password.map { ":\($0)@" } ?? "")127.0.0.1:\(port)" }

    public init(password: String? = nil, port: Int? = nil) {
        self.password = password
        self.port = port ?? Self.freePort()
        self.portIsOurs = port == nil
    }

    private struct PortTaken: Error {
        let status: Int32
    }

    /// Starts it and waits until it answers PING.
    @discardableResult
    public func start() async throws -> RedisServer {
        var attempts = 1
        while true {
            do {
                try await launch()
                return self
            } catch let taken as PortTaken {
                guard portIsOurs, attempts < 5 else {
                    throw SystemErrorDescription("redis-server exited at start (status \(taken.status)); is port \(port) taken?")
                }
                attempts += 1
                port = Self.freePort()
            }
        }
    }

    private func launch() async throws {
        guard let executable = Self.executable else { throw SystemErrorDescription(Self.unavailableReason) }
        var arguments = [executable, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]
        if let password { arguments += ["--requirepass", password] }
        pid = try spawnChild(arguments)
        // A fresh client per attempt: one client's reconnect backoff would stretch the gaps
        // between attempts past the deadline on a loaded machine.
        // The deadline is generous, and counts only time this test got to run: the suite starts
        // dozens of servers at once, beside corral and the builds of a busy host.
        var exit: Int32?
        let (port, password, pid) = (port, password, pid)
        let answered = await ProcessProbe.waitUntil(timeout: .seconds(60), every: .milliseconds(20)) {
            let client = RedisClient(url: RedisURL(host: "127.0.0.1", port: port, password: password))
            let answered = (try? await client.send("PING")) != nil
            client.close()
            if answered { return true }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { exit = status }
            return exit != nil
        }
        if let exit {
            self.pid = 0
            throw PortTaken(status: exit)
        }
        if answered { return }
        await stop()
        throw SystemErrorDescription("redis-server did not answer on port \(port) within a minute")
    }

    /// Stops it (SIGTERM, then SIGKILL) and reaps it.
    public func stop() async {
        await stopChild(pid)
        pid = 0
    }

    /// Runs `body` with a started server, always stopping it.
    public static func with<T>(password: String? = nil, _ body: (RedisServer) async throws -> T) async throws -> T {
        let server = try await RedisServer(password: password).start()
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// A port nothing listens on right now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
