import CorralCore
import CorralServer
import CorralTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import CorralConfiguration

/// A real corral (router, supervisor, store, processes) for one test, with the fixture agents.
/// Every agent it starts carries a tag of this run; afterwards anything still carrying it is
/// killed by pid and the test fails.
struct TestCorral {
    let tag = "run-\(UUID().uuidString)"
    var configuration: CorralConfiguration

    init(
        store: CorralConfiguration.StoreLocation = .memory,
        containment: CorralConfiguration.ContainmentMode = .processGroup,
        configure: (inout CorralConfiguration) -> Void = { _ in }
    ) {
        var configuration = CorralConfiguration.forTest(
            tag: tag, prefix: "corral-test-", containment: containment, defaultAgent: "cooperative", startupTimeoutSeconds: 2
        )
        configuration.store = store
        configure(&configuration)
        self.configuration = configuration
    }

    /// Runs `body` against the router, or with `live` against a real server on a free port
    /// (`Client.port`), stopped gracefully afterwards.
    func run<T: Sendable>(
        live: Bool = false,
        _ body: @Sendable (Client) async throws -> T,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> T {
        var logger = Logger(label: "corral-test")
        logger.logLevel = ProcessInfo.processInfo.environment["CORRAL_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let services = try CorralApp.makeServices(configuration: configuration, logger: logger)
        let app = try CorralApp.buildApplication(configuration: configuration, services: services, logger: logger)
        defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
        let result: T
        do {
            result = try await app.test(live ? .live : .router) { client in
                try await body(Client(client: client, services: services, token: configuration.apiToken, run: tag))
            }
        } catch {
            ProcessProbe.kill(await ProcessProbe.processes(withEnvironment: "CORRAL_TEST_RUN", value: tag))
            throw error
        }
        let leftovers = await ProcessProbe.processes(withEnvironment: "CORRAL_TEST_RUN", value: tag)
        ProcessProbe.kill(leftovers)
        #expect(leftovers.isEmpty, "processes left behind by the test run: \(leftovers)", sourceLocation: sourceLocation)
        if let root = configuration.cgroupRoot {
            let left = CgroupSupport.leftovers(ofRoot: root)
            if !left.isEmpty { CgroupSupport.removeTree(root) }
            #expect(left.isEmpty, "the test's cgroup root was left behind: \(left)", sourceLocation: sourceLocation)
        }
        return result
    }

    /// The test client, with JSON helpers.
    struct Client: Sendable {
        let client: any TestClientProtocol
        let services: CorralServices
        let token: String?
        /// The run's tag, which its agents carry (`CORRAL_TEST_RUN`).
        var run: String? = nil
        /// The live server's port (`run(live: true)`).
        var port: Int? { client.port }

        struct Reply: Sendable {
            let status: HTTPResponse.Status
            let text: String
            var headers: HTTPFields = [:]
            var json: [String: Any] {
                (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
            }
        }

        func request(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
            var headers = headers
            if let token, headers[.authorization] == nil { headers[.authorization] = "Bearer \(token)" }
            // What curl -H 'content-type: application/json' -d, the CLI and the dashboard send.
            if body != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
            let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
            return Reply(status: response.status, text: String(buffer: response.body), headers: response.headers)
        }

        /// Starts a session and returns its JSON, failing the test unless the answer is 201.
        func start(_ body: String = "{}", sourceLocation: SourceLocation = #_sourceLocation) async throws -> Session {
            let reply = try await request(.post, "/api/sessions", body: body)
            try #require(reply.status == .created, "POST /api/sessions: \(reply.status) \(reply.text)", sourceLocation: sourceLocation)
            return Session(reply.json, run: run)
        }

        func isGone(_ id: String) async throws -> Bool {
            try await request(.get, "/api/sessions/\(id)").status == .notFound
        }

        /// How many sessions ended for `reason`, from /metrics.
        func endedCount(agent: String, reason: String) async throws -> Int {
            let text = try await request(.get, "/metrics").text
            let prefix = "corral_sessions_ended_total{agent=\"\(agent)\",reason=\"\(reason)\"} "
            return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
        }

        /// The session's cgroup directory, when it has one.
        func cgroupPath(_ id: String) -> String? {
            (services.containment as? CgroupContainment).map { $0.root.path + "/s-" + id }
        }
    }

    struct Session: Sendable {
        let id: String
        let pid: Int32
        let pgid: Int32
        let isGroupLeader: Bool
        let status: String
        let containment: String
        /// The tag of the run that started it, when known (see `nothingLeft`).
        let run: String?

        init(_ json: [String: Any], run: String? = nil) {
            self.run = run
            id = json["session_id"] as? String ?? ""
            pid = Int32(json["pid"] as? Int ?? 0)
            pgid = Int32(json["pgid"] as? Int ?? 0)
            isGroupLeader = json["is_group_leader"] as? Bool ?? false
            status = json["status"] as? String ?? ""
            containment = json["containment"] as? String ?? ""
        }
    }
}

extension TestCorral.Session {
    /// Nothing of the session is left: no live process carries its id (but another run's agents
    /// of the same id), its group is empty.
    func nothingLeft() async -> Bool {
        await ProcessProbe.sessionProcesses(id, run: run).isEmpty && !ProcessProbe.groupExists(pgid)
    }
}
