import CorralCore
import CorralPlatform
import CorralSecurity
import CorralTestSupport
import Crypto
import Foundation
import Logging
import NIOHTTP1
import RedisClient
import Testing
import CorralStore

#if canImport(Glibc)
import Glibc
#endif

/// Redis is shared with the rest of a platform: whoever can write to it must not get corral's
/// tokens, root's files or someone else's processes. Each test writes what such a writer would
/// (records signed with a secret of its own, or with none) and checks that corral neither passes
/// anything on, nor reads, truncates, signals or kills what they name.
@Suite("Records in a shared Redis are not trusted", .serialized, .enabled(if: RedisServer.available, "\(RedisServer.unavailableReason)"))
struct StoreTrustTests {
    static let secret = "the-cluster-secret-of-the-trust-tests-0123456789"
    static let adminToken = "admin-" + UUID().uuidString
    static let readToken = "read-" + UUID().uuidString
    static var admin: [String: String] { ["Authorization": "Bearer \(adminToken)"] }
    static var reader: [String: String] { ["Authorization": "Bearer \(readToken)"] }

    static func node(_ redis: RedisServer, _ name: String = "node-a", secret: String? = StoreTrustTests.secret) -> [String: Any] {
        var config: [String: Any] = [
            "store": redis.url, "node_id": name, "heartbeat_interval_seconds": 0.3, "api_token": adminToken,
            "tokens": [["name": "reader", "role": "read", "sha256": sha256(readToken)]],
        ]
        if let secret { config["cluster_secret"] = secret }
        return config
    }

    static func sha256(_ text: String) -> String {
        Hex.string(SHA256.hash(data: Array(text.utf8)))
    }

    /// A store writing records as a node with `secret` would (the attacker's, or the cluster's).
    static func store(_ url: String, secret: String) throws -> RedisStore {
        RedisStore(client: try RedisClient(url), secret: ClusterSecret(secret), logger: Logger(label: "test-writer"))
    }

    /// Clock ticks since boot, the unit of a process's start time.
    static func uptimeTicks() -> UInt64 {
        let seconds = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8)).flatMap { $0.split(separator: " ").first.flatMap { Double($0) } } ?? 0
        return UInt64(seconds * Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// The partial-loss look finds a hash written over by comparing a digest Redis computes with
    /// the one the node computed when it wrote it: the two must agree on a record as written
    /// (metadata with quotes, colons and non-ASCII text), or every record would be read again at
    /// every beat.
    @Test func redisComputesTheDigestTheNodeExpects() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            let store = try Self.store(redis.url, secret: Self.secret)
            var record = Self.record("digest", node: "node-a", pid: 4242, startTime: 77, logPath: "/tmp/corral-digest.log")
            record.metadata = ["room": "salle-à-manger", "caller": #"{"x": "1:2"}"#]
            try await store.insert(record)
            let client = try RedisClient(redis.url)
            defer { client.close() }
            let script = RedisStore.digestFunction + "\nreturn digest(KEYS[1], ARGV)"
            let computed = try await client.send(["EVAL", script, "1", "session:digest"] + RedisStore.digestedFields).string
            #expect(computed == RedisStore.digest(store.signedFields(record)))
            _ = try await client.send("HSET", "session:digest", "metadata", "{}")
            let altered = try await client.send(["EVAL", script, "1", "session:digest"] + RedisStore.digestedFields).string
            #expect(altered != computed)
            _ = try await client.send("HSET", "session:digest", "extra", "1")
            let extended = try await client.send(["EVAL", script, "1", "session:digest"] + RedisStore.digestedFields).string
            #expect(extended != altered, "a field added counts too")
        }
    }

    static func record(_ id: String, node: String?, pid: Int32? = nil, startTime: UInt64? = nil, logPath: String, cgroup: String? = nil) -> SessionRecord {
        let now = Date()
        return SessionRecord(
            id: SessionID(id)!, agent: "sleeper", status: .running, pid: pid, pgid: pid, isGroupLeader: pid != nil,
            leaderStartTime: startTime, containment: cgroup == nil ? .processGroup : .cgroup, cgroupPath: cgroup,
            createdAt: now, expiresAt: now + 3600, logPath: logPath, node: node
        )
    }

    /// A node record (`corral:node:ID`) pointing at `url`, signed with `secret` (nil: unsigned).
    static func announce(_ client: RedisClient, id: String, url: String, secret: String?) async throws {
        var node: [String: Any] = ["id": id, "url": url, "sessions": 0, "capacity": 100]
        if let secret { node["mac"] = ClusterSecret(secret).sign(["corral-node-v1", id, url, "0", "100"]) }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: node), as: UTF8.self)
        try await client.send("SET", "corral:node:\(id)", text, "EX", "600")
        try await client.send("SADD", "corral:nodes", id)
    }

    @Test func aForgedNodeGetsNoRequestAndNoToken() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            try await CrashTestBed.run(containment: .processGroup, extra: Self.node(redis)) { bed in
                let corral = try await bed.startCorral()
                let trap = try TrapListener()
                let client = try RedisClient(redis.url)
                defer { client.close() }
                // The node record is the attacker's; the session records are signed with the
                // attacker's own secret, or (as a stolen or replayed one would be) with the cluster's.
                try await Self.announce(client, id: "evil", url: trap.url, secret: "an-attacker-s-own-secret-0123456789abcdef")
                let forged = try Self.store(redis.url, secret: "an-attacker-s-own-secret-0123456789abcdef")
                try await forged.insert(Self.record("forged", node: "evil", logPath: "/etc/passwd"))
                let signed = try Self.store(redis.url, secret: Self.secret)
                try await signed.insert(Self.record("signed", node: "evil", logPath: bed.dataDirectory + "/logs/signed.log"))

                for id in ["forged", "signed"] {
                    for (path, method) in [("/api/sessions/\(id)", HTTPMethod.DELETE), ("/api/sessions/\(id)/logs", .GET),
                        ("/api/debug/session/\(id)/processes", .GET)]
                    {
                        for caller in [Self.admin, Self.reader] {
                            let reply = try await corral.request(method, path, headers: caller)
                            #expect([403, 503].contains(reply.status), "\(method) \(path): \(reply.status) \(reply.text)")
                        }
                    }
                }
                let listed = try await corral.request(.GET, "/api/sessions", headers: Self.admin)
                #expect(!listed.text.contains("forged"), "an unsigned record is listed: \(listed.text)")
                #expect(await trap.received().isEmpty, "a request reached the forged node")
                #expect(corral.log.contains("does not carry a valid signature"))
            }
        }
    }

    /// A node the cluster secret vouches for gets what a forwarded request carries: the
    /// credential, never the caller's token.
    @Test func aForwardedRequestCarriesTheClusterCredentialNotTheToken() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            try await CrashTestBed.run(containment: .processGroup, extra: Self.node(redis)) { bed in
                let corral = try await bed.startCorral()
                let trap = try TrapListener()
                let client = try RedisClient(redis.url)
                defer { client.close() }
                try await Self.announce(client, id: "node-t", url: trap.url, secret: Self.secret)
                try await Self.store(redis.url, secret: Self.secret).insert(Self.record("elsewhere", node: "node-t", logPath: "/x/elsewhere.log"))

                let ended = Task { try await corral.request(.DELETE, "/api/sessions/elsewhere", headers: Self.admin, timeout: .seconds(60)) }
                var heads: [String] = []
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                    heads += await trap.received()
                    return !heads.isEmpty
                })
                _ = try? await ended.value
                let head = try #require(heads.first)
                #expect(head.hasPrefix("DELETE /api/sessions/elsewhere "), "\(head)")
                #expect(!head.contains(Self.adminToken), "the caller's token was passed on: \(head)")
                #expect(!head.lowercased().contains("authorization:"), "\(head)")
                #expect(head.lowercased().contains("corral-cluster-signature: v1 "), "\(head)")
            }
        }
    }

    /// Records this node would adopt after a restart, written with the cluster's own secret (a
    /// replayed or stolen one): what they name is checked again before it is used.
    @Test(arguments: testedStores)
    func signedRecordsAreCheckedBeforeTheyAreUsed(_ kind: StoreKind) async throws {
        try await withStore(kind) { location in
            var extra: [String: Any] = ["log_max_bytes": 64, "watch_interval_seconds": 0.2, "node_id": "node-a"]
            var redisURL: String?
            if case .redis(let url) = location {
                redisURL = url
                extra.merge(["store": url, "cluster_secret": Self.secret]) { $1 }
            }
            try await CrashTestBed.run(containment: .processGroup, extra: extra) { bed in
                var agents = bed.config["agents"] as! [String: Any]
                agents["chatty"] = ["command": ["/bin/sh", "-c", "echo \(String(repeating: "x", count: 100)); exec sleep 1000"], "env": ["CORRAL_TEST_RUN": bed.tag]]
                bed.config["agents"] = agents
                try await bed.startCorral()
                let instance = try #require(bed.instanceID)
                await bed.crash()

                // Root's file, larger than log_max_bytes: never served, never rotated.
                let secretFile = bed.directory + "/root-only"
                let content = String(repeating: "TOP SECRET ", count: 20)
                try content.write(toFile: secretFile, atomically: true, encoding: .utf8)
                chmod(secretFile, 0o600)
                // A process corral never started, with its real start time.
                let bystander = try spawnTagged(["CORRAL_TEST_RUN=\(bed.tag)"])
                let bystanderStart = try #require(ProcFS.stat(bystander)?.startTime)
                // One of corral's own (it carries this instance's tags), under a log path outside the logs.
                let tagged = try spawnTagged(["CORRAL_TEST_RUN=\(bed.tag)", "CORRAL_INSTANCE_ID=\(instance)", "CORRAL_SESSION_ID=log-thief"])
                let taggedStart = try #require(ProcFS.stat(tagged)?.startTime)
                let logs = bed.dataDirectory + "/logs/"
                // One of corral's own, younger than the bystander, whose record names the
                // bystander as a process seen leaving its group: no descendant is older.
                #expect(await ProcessProbe.waitUntil { Self.uptimeTicks() > bystanderStart })
                let leader = try spawnTagged(["CORRAL_TEST_RUN=\(bed.tag)", "CORRAL_INSTANCE_ID=\(instance)", "CORRAL_SESSION_ID=sighting-thief"])
                let leaderStart = try #require(ProcFS.stat(leader)?.startTime)
                var sightingThief = Self.record("sighting-thief", node: "node-a", pid: leader, startTime: leaderStart, logPath: logs + "sighting-thief.log")
                sightingThief.sightings = [ProcessSighting(pid: bystander, startTime: bystanderStart)]
                // A leader that is gone, said to have started at boot: nothing vouches for the
                // sighting, which must not be killed with the session's remains.
                var remainsThief = Self.record("remains-thief", node: "node-a", pid: 4_194_000, startTime: 0, logPath: logs + "remains-thief.log")
                remainsThief.sightings = [ProcessSighting(pid: bystander, startTime: bystanderStart)]
                let records = [
                    Self.record("log-thief", node: "node-a", pid: tagged, startTime: taggedStart, logPath: secretFile),
                    Self.record("pid-thief", node: "node-a", pid: bystander, startTime: bystanderStart, logPath: logs + "pid-thief.log"),
                    sightingThief,
                    remainsThief,
                ]
                let store: any SessionStore =
                    if let redisURL { try Self.store(redisURL, secret: Self.secret) } else { try SQLiteStore(path: bed.dataDirectory + "/corral.db") }
                for record in records { try await store.insert(record) }

                let corral = try await bed.startCorral()
                #expect(try await corral.sessions().isEmpty, "a record was adopted")
                let logsReply = try await corral.request(.GET, "/api/sessions/log-thief/logs")
                #expect(logsReply.status == 404 && !logsReply.text.contains("TOP SECRET"), "\(logsReply.status) \(logsReply.text)")
                #expect(try await corral.request(.DELETE, "/api/sessions/pid-thief").status == 404)
                #expect(try await corral.request(.DELETE, "/api/sessions/sighting-thief").status == 404)
                #expect(corral.log.contains("cannot be its agent's descendants"), "\(corral.log.suffix(3000))")
                #expect(corral.log.contains("could not have written"), "\(corral.log.suffix(3000))")
                #expect(corral.log.contains("does not carry this session's tags"), "\(corral.log.suffix(3000))")
                // A live session whose log is rotated: the watch that would have rotated the other ran.
                _ = try await corral.start(#"{"agent": "chatty", "session_id": "chatty"}"#)
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: logs + "chatty.log.1") })
                #expect((try? String(contentsOfFile: secretFile, encoding: .utf8)) == content, "root's file was changed")
                #expect(ProcessProbe.isAlive(bystander, startTime: bystanderStart), "a process corral never started was signalled")
                #expect(try await corral.request(.DELETE, "/api/sessions/chatty").status == 200)
                #expect(await ProcessProbe.killAndWait([bystander, tagged, leader]))
            }
        }
    }

    /// A cgroup named by a record, outside corral's cgroup root, is never killed or removed.
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func aCgroupOutsideTheRootIsNeverTouched() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            try await CrashTestBed.run(containment: .cgroup, extra: Self.node(redis)) { bed in
                try await bed.startCorral()
                await bed.crash()
                let foreign = CgroupSupport.newTestPath()
                try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: false)
                defer { CgroupSupport.removeTree(foreign) }
                let bystander = try spawnTagged(["CORRAL_TEST_RUN=\(bed.tag)"])
                try String(bystander).write(toFile: foreign + "/cgroup.procs", atomically: false, encoding: .utf8)
                let store = try Self.store(redis.url, secret: Self.secret)
                // No pid: a session whose remains corral would kill by its cgroup.
                try await store.insert(Self.record("cgroup-thief", node: "node-a", logPath: bed.dataDirectory + "/logs/c.log", cgroup: foreign))
                // The same under the root's name with a path that climbs out of it.
                let root = try #require(bed.cgroupRoot)
                try await store.insert(Self.record("climber", node: "node-a", logPath: bed.dataDirectory + "/logs/d.log", cgroup: root + "/s-x/../../" + URL(fileURLWithPath: foreign).lastPathComponent))
                // Named as a session's cgroup, below another root (as one of a corral configured
                // otherwise before): the record is taken, and that cgroup is not acted on.
                let shaped = foreign + "/s-shaped-thief"
                try FileManager.default.createDirectory(atPath: shaped, withIntermediateDirectories: false)
                let inShaped = try spawnTagged(["CORRAL_TEST_RUN=\(bed.tag)"])
                try String(inShaped).write(toFile: shaped + "/cgroup.procs", atomically: false, encoding: .utf8)
                try await store.insert(Self.record("shaped-thief", node: "node-a", logPath: bed.dataDirectory + "/logs/e.log", cgroup: shaped))

                let corral = try await bed.startCorral()
                #expect(try await corral.sessions().isEmpty)
                #expect(ProcessProbe.isAlive(bystander), "a process in a cgroup corral did not make was killed")
                #expect(ProcessProbe.isAlive(inShaped), "a process in a session-named cgroup below another root was killed")
                #expect(FileManager.default.fileExists(atPath: foreign), "a cgroup corral did not make was removed")
                #expect(FileManager.default.fileExists(atPath: shaped), "a session-named cgroup below another root was removed")
                #expect(corral.log.contains("its cgroup \(foreign) is not a session cgroup"))
                #expect(await ProcessProbe.killAndWait([bystander, inShaped]))
            }
        }
    }

    /// Two nodes sharing a Redis with no shared secret: each signs with its own, so neither lists
    /// or acts on the other's sessions, and the answer says what to set.
    @Test func withoutASharedSecretNothingIsPassedOn() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            try await CrashTestBed.run(containment: .processGroup, extra: Self.node(redis, "node-a", secret: nil)) { a in
                try await CrashTestBed.run(containment: .processGroup, extra: Self.node(redis, "node-b", secret: nil)) { b in
                    let nodeA = try await a.startCorral()
                    let nodeB = try await b.startCorral()
                    let session = try await nodeA.start(#"{"agent": "sleeper", "session_id": "on-a"}"#, headers: Self.admin)
                    #expect(FileManager.default.fileExists(atPath: a.dataDirectory + "/cluster-secret"))
                    let refused = try await nodeB.request(.DELETE, "/api/sessions/on-a", headers: Self.admin)
                    #expect(refused.status == 503, "\(refused.text)")
                    #expect(refused.text.contains("cluster_secret_file"), "the answer names the key to set: \(refused.text)")
                    #expect(ProcessProbe.isAlive(session.pid))
                    #expect(!(try await nodeB.request(.GET, "/api/sessions", headers: Self.admin).text.contains("on-a")))
                    #expect(try await nodeA.request(.DELETE, "/api/sessions/on-a", headers: Self.admin).status == 200)
                }
            }
        }
    }

    /// A request that says another node passed it on, without that node's valid credential, is
    /// refused before anything else, whatever token it also carries.
    @Test func aRequestClaimingToBeForwardedNeedsAValidCredential() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            try await CrashTestBed.run(containment: .processGroup, extra: Self.node(redis)) { bed in
                let corral = try await bed.startCorral()
                let session = try await corral.start(#"{"agent": "sleeper", "session_id": "kept"}"#, headers: Self.admin)
                let forgedCredential = ClusterSecret("not-the-cluster-secret-0123456789abcdef").sign(["anything"])
                let attempts: [[String: String]] = [
                    ["Corral-Forwarded-By": "node-b"],
                    ["Corral-Forwarded-By": "node-b", "Corral-Cluster-Signature": "v1 node=6e6f64652d62 time=0 nonce=00 name=61 role=admin mac=\(forgedCredential)"],
                    ["Corral-Forwarded-By": "node-b", "Authorization": "Bearer \(Self.readToken)"],
                ]
                for headers in attempts {
                    let reply = try await corral.request(.DELETE, "/api/sessions/kept", headers: headers)
                    #expect(reply.status == 401, "\(headers): \(reply.status) \(reply.text)")
                }
                #expect(ProcessProbe.isAlive(session.pid))
                #expect(try await corral.request(.DELETE, "/api/sessions/kept", headers: Self.admin).status == 200)
            }
        }
    }
}
