import CorralCore
import CorralPlatform
import CorralSecurity
import CorralTestSupport
import Crypto
import Foundation
import HTTPTypes
import NIOHTTP1
import Testing
import CorralConfiguration

#if canImport(Glibc)
import Glibc
#endif

func sha256(_ text: String) -> [UInt8] {
    Array(SHA256.hash(data: Array(text.utf8)))
}

@Suite("Security: roles, redaction, audit, limits, files")
struct SecurityTests {
    static func configure(_ configuration: inout CorralConfiguration) {
        configuration.tokens = [
            AccessToken(name: "viewer", sha256: sha256("read-token"), role: .read),
            AccessToken(name: "ops", sha256: sha256("operate-token"), role: .operate),
            AccessToken(name: "root", sha256: sha256("admin-token"), role: .admin),
        ]
        configuration.agents["secretive"] = AgentProfile(
            command: ["/bin/sh", "-c", "echo DB_PASSWORD=hunter2 postgres://app:pw@db/calls; sleep 1000", "agent", "--token=abc123"],
            environment: ["CORRAL_TEST_RUN": configuration.agents["sleeper"]!.environment["CORRAL_TEST_RUN"]!, "MY_SECRET": "s3cr3t", "ROOM": "lobby"]
        )
    }

    func client(_ client: TestCorral.Client, token: String?) -> TestCorral.Client {
        TestCorral.Client(client: client.client, services: client.services, token: token)
    }

    @Test func rolesPerRoute() async throws {
        try await TestCorral(configure: Self.configure).run { base in
            let viewer = client(base, token: "read-token")
            let ops = client(base, token: "operate-token")
            let stranger = client(base, token: "wrong-token")

            #expect(try await stranger.request(.get, "/api/sessions").status == .unauthorized)
            #expect(try await viewer.request(.post, "/api/sessions", body: #"{"agent": "sleeper"}"#).status == .forbidden)
            let session = try await ops.start(#"{"agent": "sleeper", "session_id": "roles-1"}"#)
            #expect(try await viewer.request(.get, "/api/sessions").status == .ok)
            #expect(try await viewer.request(.get, "/api/sessions/roles-1").status == .ok)
            #expect(try await viewer.request(.get, "/api/debug/session/roles-1/processes").status == .ok)
            #expect(try await viewer.request(.get, "/api/sessions/roles-1/logs").status == .ok)
            #expect(try await viewer.request(.delete, "/api/sessions/roles-1").status == .forbidden)
            #expect(try await ops.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            #expect(try await stranger.request(.get, "/healthz").status == .ok)
        }
    }

    @Test func secretsAreRedactedForAllButAdmins() async throws {
        try await TestCorral(configure: Self.configure).run { base in
            let viewer = client(base, token: "read-token")
            let admin = client(base, token: "admin-token")
            _ = try await admin.start(#"{"agent": "secretive", "session_id": "secrets"}"#)
            #expect(try await ProcessProbe.waitUntil { try await viewer.request(.get, "/api/sessions/secrets/logs").text.contains("calls") })

            let redacted = try await viewer.request(.get, "/api/debug/session/secrets/processes").text
            #expect(redacted.contains("--token=[redacted]"), "\(redacted)")
            #expect(!redacted.contains("abc123"))
            #expect(!redacted.contains("s3cr3t"), "no environments for non-admins")
            let plain = try await admin.request(.get, "/api/debug/session/secrets/processes")
            #expect(plain.text.contains("--token=abc123"))
            let processes = plain.json["child_processes"] as? [[String: Any]] ?? []
            #expect((processes.first?["env"] as? [String: String])?["MY_SECRET"] == "s3cr3t")

            let log = try await viewer.request(.get, "/api/sessions/secrets/logs").text
            #expect(log.contains("DB_PASSWORD=[redacted]") && log.contains("postgres://app:[redacted]@db/calls"), "\(log)")
            #expect(!log.contains("hunter2") && !log.contains(":pw@"))
            #expect(try await admin.request(.get, "/api/sessions/secrets/logs").text.contains("hunter2"))
        }
    }

    @Test func auditRecordsEachActionAndRefusal() async throws {
        try await TestCorral(configure: Self.configure).run { base in
            let ops = client(base, token: "operate-token")
            _ = try await ops.start(#"{"agent": "sleeper", "session_id": "audited", "metadata": {"patient": "Jane Doe"}}"#)
            _ = try await ops.request(.get, "/api/debug/session/audited/processes")
            _ = try await ops.request(.get, "/api/sessions/audited/logs")
            _ = try await ops.request(.delete, "/api/sessions/audited")
            _ = try await client(base, token: "nope").request(.get, "/api/sessions")
            _ = try await client(base, token: "read-token").request(.post, "/api/sessions", body: "{}")
            // Refusals are written as a summary when their minute ends, or now.
            base.services.auditLog.flushRefusals()
            let path = base.services.auditLog.path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let entries = text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            let summary = entries.map { "\($0["who"] as? String ?? "") \($0["action"] as? String ?? "") \($0["session"] as? String ?? "-") \($0["result"] as? Int ?? 0)" }
            // What was done, then the refusals summed up, in the order they began: a bad token,
            // and the start a read token's role may not make.
            #expect(summary == [
                "ops start audited 201", "ops inspect audited 200", "ops logs audited 200", "ops end audited 200",
                "unknown authenticate - 401", "viewer start - 403",
            ])
            #expect(entries.suffix(2).allSatisfy { $0["count"] as? Int == 1 })
            #expect(entries.last?["role"] as? String == "read")
            #expect(!text.contains("Jane Doe"), "metadata values never reach the audit log")
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        }
    }

    @Test func refusedRequestsCannotFlushTheAuditLog() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["api_token": "audit-token", "audit_log_max_bytes": 4096]) { bed in
            let corral = try await bed.startCorral()
            let token = ["Authorization": "Bearer audit-token"]
            let started = try await corral.request(.POST, "/api/sessions", body: #"{"agent": "sleeper", "session_id": "recorded"}"#, headers: token)
            #expect(started.status == 201, "\(started.text)")
            #expect(try await corral.request(.DELETE, "/api/sessions/recorded", headers: token).status == 200)
            for _ in 0..<200 {
                #expect(try await corral.request(.GET, "/api/sessions", headers: ["Authorization": "Bearer guess"]).status == 401)
            }
            // Stopping corral writes the refusals it has counted.
            #expect(await corral.terminate() == 0)
            let path = bed.dataDirectory + "/audit.log"
            let text = ((try? String(contentsOfFile: path + ".1", encoding: .utf8)) ?? "") + (try String(contentsOfFile: path, encoding: .utf8))
            let entries = text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            let done = entries.filter { $0["session"] as? String == "recorded" }.compactMap { $0["action"] as? String }
            #expect(done == ["start", "end"], "the record of what was done is gone: \(text)")
            // One line per refusal window the 200 spanned (on a busy host they can outlast one).
            let refusals = entries.filter { $0["action"] as? String == "authenticate" }
            #expect(refusals.reduce(0) { $0 + ($1["count"] as? Int ?? 0) } == 200, "\(refusals)")
            #expect(!refusals.isEmpty && refusals.count <= 4, "not one line per window: \(refusals)")
            #expect(refusals.allSatisfy { $0["address"] as? String == "127.0.0.1" }, "\(refusals)")
        }
    }

    /// Issue 26: 1,500 inspections of a 15,000-byte session id by a read token rotated the audit
    /// log twice, and the admin's records were gone. Now what a known token's request that did
    /// nothing (that, a 403 for its role, a 404 with a long query) writes is summed up per token
    /// and kind, and never rotates the file; the summary carries the id cut, with its length.
    @Test func aReadTokensFloodCannotFlushTheAuditLog() async throws {
        let viewer: [String: Any] = ["name": "viewer", "sha256": sha256("flood-read-token").map { String(format: "%02x", $0) }.joined(), "role": "read"]
        try await CrashTestBed.run(
            containment: .processGroup, extra: ["api_token": "flood-admin-token", "tokens": [viewer], "audit_log_max_bytes": 65536]
        ) { bed in
            let corral = try await bed.startCorral()
            let admin = ["Authorization": "Bearer flood-admin-token"]
            let reader = ["Authorization": "Bearer flood-read-token"]
            let started = try await corral.request(.POST, "/api/sessions", body: #"{"agent": "sleeper", "session_id": "admins-call"}"#, headers: admin)
            #expect(started.status == 201, "\(started.text)")
            #expect(try await corral.request(.DELETE, "/api/sessions/admins-call", headers: admin).status == 200)

            let long = String(repeating: "A", count: 15_000)
            let query = "?follow=false&pad=" + String(repeating: "q", count: 8_000)
            let flood: [(path: String, method: HTTPMethod, count: Int)] = [
                ("/api/debug/session/\(long)/processes", .GET, 1_500),
                ("/api/sessions/admins-call", .DELETE, 300),
                ("/api/sessions/no-such-call/logs\(query)", .GET, 300),
            ]
            for (path, method, count) in flood {
                let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            var statuses: [Int] = []
                            for _ in stride(from: worker, to: count, by: 8) { statuses.append(try await corral.request(method, path, headers: reader).status) }
                            return statuses
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(statuses.count == count && statuses.allSatisfy { (400..<500).contains($0) }, "\(method) \(path.prefix(60)): \(Set(statuses))")
            }
            // Stopping corral writes the refusals it has counted.
            #expect(await corral.terminate() == 0)
            let path = bed.dataDirectory + "/audit.log"
            #expect(!FileManager.default.fileExists(atPath: path + ".1"), "the flood rotated the audit log")
            let text = ((try? String(contentsOfFile: path + ".1", encoding: .utf8)) ?? "") + (try String(contentsOfFile: path, encoding: .utf8))
            let entries = text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            let done = entries.filter { $0["session"] as? String == "admins-call" && $0["who"] as? String == "api_token" }.compactMap { $0["action"] as? String }
            #expect(done == ["start", "end"], "the admin's record is gone: \(text.prefix(3000))")
            #expect(text.split(separator: "\n").allSatisfy { $0.utf8.count < 1024 }, "an audit line carries more than its bounds")
            // One line per kind for each refusal window the flood spanned (on a busy host it can
            // outlast one), so the counts are summed.
            let refused = entries.filter { $0["who"] as? String == "viewer" }
            let counts = refused.reduce(into: [String: Int]()) { $0[$1["action"] as? String ?? "", default: 0] += $1["count"] as? Int ?? 0 }
            #expect(counts == ["inspect": 1_500, "end": 300, "logs": 300], "\(refused)")
            #expect(refused.count <= 3 * 4, "not one line per kind and window: \(refused.count) lines")
            let inspections = refused.filter { $0["action"] as? String == "inspect" }
            #expect(!inspections.isEmpty && inspections.allSatisfy { $0["role"] as? String == "read" }, "\(inspections)")
            #expect(inspections.allSatisfy { $0["session"] as? String == String(repeating: "A", count: 128) && $0["session_length"] as? Int == 15_000 })
        }
    }

    /// Reads that succeed are what was done too, but they changed nothing: however many a read
    /// token makes, they have a share of the file of their own and are summed up past it, so
    /// the admin's start and end are still there.
    @Test func aReadTokensSuccessfulReadsCannotFlushTheAuditLog() async throws {
        let viewer: [String: Any] = ["name": "viewer", "sha256": sha256("reads-read-token").map { String(format: "%02x", $0) }.joined(), "role": "read"]
        try await CrashTestBed.run(
            containment: .processGroup, extra: ["api_token": "reads-admin-token", "tokens": [viewer], "audit_log_max_bytes": 4096]
        ) { bed in
            let corral = try await bed.startCorral()
            let admin = ["Authorization": "Bearer reads-admin-token"]
            let reader = ["Authorization": "Bearer reads-read-token"]
            let started = try await corral.request(.POST, "/api/sessions", body: #"{"agent": "sleeper", "session_id": "watched"}"#, headers: admin)
            #expect(started.status == 201, "\(started.text)")
            for _ in 0..<100 {
                #expect(try await corral.request(.GET, "/api/debug/session/watched/processes", headers: reader).status == 200)
                #expect(try await corral.request(.GET, "/api/sessions/watched/logs", headers: reader).status == 200)
            }
            #expect(try await corral.request(.DELETE, "/api/sessions/watched", headers: admin).status == 200)
            #expect(await corral.terminate() == 0)
            let path = bed.dataDirectory + "/audit.log"
            #expect(!FileManager.default.fileExists(atPath: path + ".1"), "reads rotated the audit log")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let entries = text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            let done = entries.filter { $0["who"] as? String == "api_token" }.compactMap { $0["action"] as? String }
            #expect(done == ["start", "end"], "the admin's record is gone: \(text.prefix(2000))")
            let reads = entries.filter { $0["who"] as? String == "viewer" }
            let counted = reads.reduce(0) { $0 + ($1["count"] as? Int ?? 1) }
            #expect(counted == 200, "every read is in the log, as a line or in a summary: \(reads.count) lines")
            #expect(reads.contains { ($0["count"] as? Int ?? 0) > 1 }, "reads past their share are summed up")
        }
    }

    @Test func sessionStartsPerSecondPerToken() async throws {
        try await TestCorral(configure: { configuration in
            Self.configure(&configuration)
            // One start per 1,000 s: the bucket holds one, and cannot refill during the test,
            // however slowly a busy host answers its four requests.
            configuration.sessionStartsPerSecond = 0.001
        }).run { base in
            let ops = client(base, token: "operate-token")
            let admin = client(base, token: "admin-token")
            var statuses: [HTTPResponse.Status] = []
            var retryAfter: String?
            for _ in 0..<4 {
                let reply = try await ops.request(.post, "/api/sessions", body: #"{"agent": "sleeper"}"#)
                statuses.append(reply.status)
                if reply.status == .tooManyRequests { retryAfter = reply.headers[.retryAfter] }
            }
            #expect(statuses == [.created, .tooManyRequests, .tooManyRequests, .tooManyRequests])
            #expect(retryAfter.flatMap(Int.init).map { $0 >= 1 && $0 <= 1000 } == true, "\(retryAfter ?? "none")")
            // Another token has its own budget.
            #expect(try await admin.request(.post, "/api/sessions", body: #"{"agent": "sleeper"}"#).status == .created)
        }
    }

    @Test func concurrentRequestsAreBounded() async throws {
        try await TestCorral(configure: { configuration in
            configuration.maxConcurrentRequests = 1
            // The slow end holds the only slot for its grace: long enough for a busy host to see it.
            configuration.graceSeconds = 15
        }).run { base in
            _ = try await base.start(#"{"agent": "ignore-term", "session_id": "slow-end"}"#)
            let slow = Task { try await base.request(.delete, "/api/sessions/slow-end") }
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(15)) {
                let reply = try await base.request(.get, "/api/sessions")
                return reply.status == .serviceUnavailable && reply.headers[.retryAfter] == "1"
            })
            // The probes are never refused by request limits.
            #expect(try await base.request(.get, "/healthz").status == .ok)
            #expect(try await base.request(.get, "/readyz").status == .ok)
            #expect(try await slow.value.status == .ok)
            #expect(try await base.request(.get, "/api/sessions").status == .ok)
        }
    }

    @Test func agentsInheritNoDescriptorsAndFilesArePrivate() async throws {
        try await TestCorral(store: .sqlite(path: "corral.db")).run { base in
            let session = try await base.start(#"{"agent": "sleeper", "session_id": "fds"}"#)
            let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(session.pid)/fd").compactMap(Int.init).sorted()
            #expect(descriptors == [0, 1, 2], "the agent inherited \(descriptors)")
            let data = base.services.dataDirectory.path
            func mode(_ path: String) throws -> Int? { try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int }
            // Others may pass through to the notify socket, not list the directory.
            #expect(try mode(data) == 0o711)
            #expect(try mode(data + "/instance-id") == 0o600)
            #expect(try mode(data + "/corral.lock") == 0o600)
            #expect(try mode(data + "/logs") == 0o700)
            #expect(try mode(data + "/logs/fds.log") == 0o600)
            #expect(try mode(data + "/corral.db") == 0o600)
            #expect(try mode(data + "/audit.log") == 0o600)
        }
    }

    @Test(.enabled(if: geteuid() == 0, "dropping privileges needs root"))
    func agentsRunAsTheProfilesUser() async throws {
        try await TestCorral(configure: { configuration in
            var profile = configuration.agents["sleeper"]!
            profile.user = AgentUser(uid: 65534, gid: 65534, groups: [65534])
            configuration.agents["unprivileged"] = profile
        }).run { base in
            let session = try await base.start(#"{"agent": "unprivileged"}"#)
            let status = try String(contentsOfFile: "/proc/\(session.pid)/status", encoding: .utf8)
            let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: \.isWhitespace).dropFirst().map(String.init)
            let gid = status.split(separator: "\n").first { $0.hasPrefix("Gid:") }?.split(whereSeparator: \.isWhitespace).dropFirst().map(String.init)
            #expect(uid == ["65534", "65534", "65534", "65534"])
            #expect(gid == ["65534", "65534", "65534", "65534"])
            #expect(try await base.request(.delete, "/api/sessions/\(session.id)").status == .ok)
        }
    }

    /// The notify socket must be reachable from an agent that dropped to another user: one in
    /// the 0700 data directory was not (EACCES), and such a session always timed out starting.
    @Test(.enabled(if: geteuid() == 0, "dropping privileges needs root"))
    func notifyAgentsRunningAsAnotherUserBecomeReady() async throws {
        try await TestCorral(configure: { configuration in
            var profile = configuration.agents["ready-after-delay"]!
            profile.user = AgentUser(uid: 65534, gid: 65534, groups: [65534])
            profile.environment["READY_DELAY"] = "0"
            configuration.agents["unprivileged-notify"] = profile
            configuration.startupTimeoutSeconds = 20
        }).run { base in
            let session = try await base.start(#"{"agent": "unprivileged-notify"}"#)
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(20)) {
                try await base.request(.get, "/api/sessions/\(session.id)").json["status"] as? String == "running"
            })
            let status = (try? String(contentsOfFile: "/proc/\(session.pid)/status", encoding: .utf8)) ?? ""
            #expect(status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: \.isWhitespace).dropFirst().first == "65534")
            #expect(try await base.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            #expect(await session.nothingLeft())
        }
    }

    @Test func tlsWhenACertificateIsConfigured() async throws {
        let directory = NSTemporaryDirectory() + "corral-tls-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try await CommandRunner.run(
            "/usr/bin/env",
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"]
        )
        try #require(made.status == 0, "openssl: \(made.errors)")
        try await CrashTestBed.run(containment: .processGroup, extra: ["tls_cert_file": directory + "/cert.pem", "tls_key_file": directory + "/key.pem"]) { bed in
            let corral = try await bed.startCorral()
            let secure = try await CommandRunner.run("/usr/bin/env", ["curl", "-sk", "https://127.0.0.1:\(corral.port)/healthz"])
            #expect(secure.output.contains("\"ok\""), "\(secure.output) \(secure.errors)")
            let plain = try await CommandRunner.run("/usr/bin/env", ["curl", "-s", "--max-time", "5", "http://127.0.0.1:\(corral.port)/healthz"])
            #expect(!plain.output.contains("\"ok\""))
        }
    }
}
