import AsyncHTTPClient
import CorralCore
import CorralServer
import CorralPlatform
import CorralTestSupport
import Foundation
import NIOCore
import RedisClient
import Testing

@Suite("Redis store: outages and several nodes", .serialized, .enabled(if: RedisServer.available, "\(RedisServer.unavailableReason)"))
struct ClusterTests {
    @Test func redisOutageLosesNothing() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in try await CrashTestBed.run(containment: .processGroup, extra: ["store": redis.url]) { bed in
            let corral = try await bed.startCorral()
            let kept = try await corral.start(#"{"agent": "sleeper", "session_id": "kept"}"#)
            let ended = try await corral.start(#"{"agent": "sleeper", "session_id": "ended"}"#)
            #expect(try await corral.request(.GET, "/readyz").status == 200)

            await redis.stop()
            #expect(try await ProcessProbe.waitUntil { try await corral.request(.GET, "/readyz").status == 503 })
            #expect(try await corral.request(.GET, "/readyz").json["code"] as? String == "unavailable")
            #expect(try await corral.request(.GET, "/healthz").status == 200)
            let refused = try await corral.request(.POST, "/api/sessions", body: #"{"agent": "sleeper"}"#)
            #expect(refused.status == 503, "no agent runs without a record: \(refused.text)")
            // Ending a running session still works: the kill happens, the record change waits.
            #expect(try await corral.request(.DELETE, "/api/sessions/ended").status == 200)
            #expect(!ProcessProbe.isAlive(ended.pid))
            #expect(ProcessProbe.isAlive(kept.pid))

            // Redis comes back empty (no persistence): corral writes its live sessions again.
            let again = try await RedisServer(port: redis.port).start()
            #expect(try await ProcessProbe.waitUntil { try await corral.request(.GET, "/readyz").status == 200 })
            let client = try RedisClient(redis.url)
            defer { client.close() }
            #expect(try await ProcessProbe.waitUntil { try await client.send("HGET", "session:kept", "agentPid").string == String(kept.pid) })
            #expect(try await client.send("EXISTS", "session:ended").integer == 0)
            #expect(try await corral.request(.POST, "/api/sessions", body: #"{"agent": "sleeper", "session_id": "after"}"#).status == 201)
            #expect(try await corral.request(.DELETE, "/api/sessions/kept").status == 200)
            #expect(try await corral.request(.DELETE, "/api/sessions/after").status == 200)
            #expect(try await client.send("SMEMBERS", "corral:sessions").array?.isEmpty == true)
            await again.stop()
        } }
    }

    /// Redis loses everything between two of corral's requests (restarted empty, or flushed), so
    /// corral never sees it down: it still finds out, writes its live sessions' records again,
    /// and a crash after that loses nothing. Without them, corral restarted killed its own
    /// running sessions as orphans, and another node could take their ids.
    @Test func recordsFlushedWhileRedisAnswersAreWrittenAgain() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            try await CrashTestBed.run(containment: .processGroup, extra: ["store": redis.url, "node_id": "flushed", "heartbeat_interval_seconds": 0.5]) { bed in
                let corral = try await bed.startCorral()
                let kept = try await corral.start(#"{"agent": "sleeper", "session_id": "kept"}"#)
                let client = try RedisClient(redis.url)
                defer { client.close() }
                #expect(try await client.send("HGET", "session:kept", "agentPid").string == String(kept.pid))
                #expect(try await client.send("EXISTS", "corral:node:flushed:writes").integer == 1, "the mark is left at start-up")

                _ = try await client.send("FLUSHALL")
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await client.send("HGET", "session:kept", "agentPid").string == String(kept.pid)
                })
                #expect(try await client.send("SISMEMBER", "corral:sessions", "kept").integer == 1)
                #expect(corral.log.contains("the session store lost this node's records"), "\(corral.log.suffix(2000))")

                await bed.crash()
                let again = try await bed.startCorral()
                #expect(ProcessProbe.isAlive(kept.pid), "the re-adopted session was not killed as an orphan")
                #expect(try await again.session("kept")?.pid == kept.pid, "\(again.log.suffix(2000))")
                #expect(try await again.request(.DELETE, "/api/sessions/kept").status == 200)
                #expect(!ProcessProbe.isAlive(kept.pid))
            }
        }
    }

    /// Redis loses some records and keeps the mark (a key evicted, a restore from an older
    /// snapshot, a failover to a replica that lagged): corral finds a session's record gone, or
    /// gone from the index, or written over by someone without the cluster secret (a hash that
    /// does not verify reads as nothing, whatever node it names; one field changed and the
    /// signature left as it was does not verify either), and writes it again; a crash after that
    /// loses nothing.
    @Test func recordsLostOneByOneAreWrittenAgain() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            let extra: [String: Any] = ["store": redis.url, "node_id": "partial", "heartbeat_interval_seconds": 0.5, "cluster_secret": StoreTrustTests.secret]
            try await CrashTestBed.run(containment: .processGroup, extra: extra) { bed in
                let corral = try await bed.startCorral()
                let evicted = try await corral.start(#"{"agent": "sleeper", "session_id": "evicted"}"#)
                let unlisted = try await corral.start(#"{"agent": "sleeper", "session_id": "unlisted"}"#)
                let forged = try await corral.start(#"{"agent": "sleeper", "session_id": "forged"}"#)
                let replayed = try await corral.start(#"{"agent": "sleeper", "session_id": "replayed"}"#)
                let altered = try await corral.start(#"{"agent": "sleeper", "session_id": "altered"}"#)
                let capitals = try await corral.start(#"{"agent": "sleeper", "session_id": "capitals"}"#)
                let client = try RedisClient(redis.url)
                defer { client.close() }
                // An older copy of the node's own record, signed (restored, or replayed by whoever
                // holds the secret), read by a listing before the look: it is still written over.
                let writer = try StoreTrustTests.store(redis.url, secret: StoreTrustTests.secret)
                var older = try #require(try await writer.record(SessionID("replayed")!))
                older.metadata = ["copy": "older"]
                try await writer.update(older)
                #expect(try await corral.request(.GET, "/api/sessions").status == 200)
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await writer.record(SessionID("replayed")!)?.metadata.isEmpty == true
                })
                _ = try await client.send("DEL", "session:evicted", "agent:evicted:pid")
                _ = try await client.send("SREM", "corral:sessions", "unlisted")
                _ = try await client.send("HSET", "session:forged", "node", "elsewhere", "agentPid", "1", "mac", "forged")
                let metadata = try await client.send("HGET", "session:altered", "metadata").string
                _ = try await client.send("HSET", "session:altered", "metadata", #"{"tampered":"1"}"#)
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await client.send("HGET", "session:altered", "metadata").string == metadata
                }, "a field written over, the signature kept")
                // The same record in another form (its signature in capitals still verifies) is
                // written again once, not read again at every beat.
                let mac = try #require(try await client.send("HGET", "session:capitals", "mac").string)
                _ = try await client.send("HSET", "session:capitals", "mac", mac.uppercased())
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await client.send("HGET", "session:capitals", "mac").string == mac
                }, "the record in another form is written again")
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await client.send("HGET", "session:forged", "agentPid").string == String(forged.pid)
                })
                #expect(try await client.send("HGET", "session:forged", "node").string == "partial")
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await client.send("HGET", "session:evicted", "agentPid").string == String(evicted.pid)
                })
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await client.send("SISMEMBER", "corral:sessions", "unlisted").integer == 1
                })
                #expect(try await client.send("GET", "agent:evicted:pid").string == String(evicted.pid))
                #expect(try await client.send("EXISTS", "corral:node:partial:writes").integer == 1, "the mark was kept: a partial loss")
                #expect(corral.log.contains("the session store lost records of this node's sessions"), "\(corral.log.suffix(2000))")

                await bed.crash()
                let again = try await bed.startCorral()
                #expect(try await again.session("evicted")?.pid == evicted.pid, "\(again.log.suffix(2000))")
                #expect(try await again.session("unlisted")?.pid == unlisted.pid, "\(again.log.suffix(2000))")
                #expect(try await again.session("forged")?.pid == forged.pid, "\(again.log.suffix(2000))")
                #expect(try await again.session("replayed")?.pid == replayed.pid, "\(again.log.suffix(2000))")
                #expect(try await again.session("altered")?.pid == altered.pid, "\(again.log.suffix(2000))")
                #expect(try await again.session("capitals")?.pid == capitals.pid, "\(again.log.suffix(2000))")
                for id in ["evicted", "unlisted", "forged", "replayed", "altered", "capitals"] {
                    #expect(try await again.request(.DELETE, "/api/sessions/\(id)").status == 200)
                }
                #expect(![evicted.pid, unlisted.pid, forged.pid, replayed.pid, altered.pid, capitals.pid].contains { ProcessProbe.isAlive($0) })
            }
        }
    }

    /// Redis loses a node's records, and another node starts a session with one of those ids
    /// before the first node has written them again: the first node's rewrite, and its end of
    /// its own session later, leave the other node's record alone (the rewrite wrote over it:
    /// the other node's session was listed as the first's, and the first one's end deleted it).
    @Test func aLostRecordTakenByAnotherNodeIsLeftToIt() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            func node(_ name: String, heartbeat: Double) -> [String: Any] {
                ["store": redis.url, "node_id": name, "heartbeat_interval_seconds": heartbeat, "cluster_secret": StoreTrustTests.secret]
            }
            // The second node does not look for its own lost records while the test runs.
            try await CrashTestBed.run(containment: .processGroup, extra: node("first", heartbeat: 3)) { a in
                try await CrashTestBed.run(containment: .processGroup, extra: node("second", heartbeat: 3600)) { b in
                    let first = try await a.startCorral()
                    let second = try await b.startCorral()
                    let client = try RedisClient(redis.url)
                    defer { client.close() }
                    var contested: (id: String, first: Int32, second: Int32)?
                    // The first node may write its records again before the second starts its
                    // session (then refused, 409): again, with another id.
                    for attempt in 0..<5 where contested == nil {
                        let id = "contested-\(attempt)"
                        let own = try await first.start(#"{"agent": "sleeper", "session_id": "\#(id)"}"#)
                        _ = try await client.send("FLUSHALL")
                        let taken = try await second.request(.POST, "/api/sessions", body: #"{"agent": "sleeper", "session_id": "\#(id)"}"#)
                        if taken.status == 201, let pid = (taken.json["pid"] as? NSNumber)?.int32Value { contested = (id, own.pid, pid) }
                    }
                    let (id, firstPID, secondPID) = try #require(contested)
                    // The first node's rewrite of this id was refused (an earlier attempt's rewrite
                    // left nothing of the kind: its id was the first node's alone).
                    #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                        first.log.contains("session '\(id)' is another node's")
                    }, "\(first.log.suffix(2000))")
                    #expect(try await client.send("HGET", "session:\(id)", "node").string == "second")
                    #expect(try await client.send("HGET", "session:\(id)", "agentPid").string == String(secondPID))

                    // Each node ends its own agent; only the second's end removes the record.
                    #expect(try await first.request(.DELETE, "/api/sessions/\(id)").status == 200)
                    // Its end's writes were refused too: said once, not at each write.
                    let refusals = first.log.components(separatedBy: "session store write refused").count - 1
                    #expect(refusals == 1, "\(first.log.suffix(3000))")
                    #expect(!ProcessProbe.isAlive(firstPID) && ProcessProbe.isAlive(secondPID))
                    #expect(try await client.send("HGET", "session:\(id)", "node").string == "second")
                    #expect(try await second.request(.DELETE, "/api/sessions/\(id)").status == 200)
                    #expect(try await client.send("EXISTS", "session:\(id)").integer == 0)
                    for session in try await first.sessions() {
                        #expect(try await first.request(.DELETE, "/api/sessions/\(session.sessionID)").status == 200)
                    }
                }
            }
        }
    }

    /// A second corral given a node_id a live node already has (it defaults to the host name)
    /// does not start: it would remove that node's records as ones it could not have written.
    @Test func aNodeIDInUseIsRefused() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            // One URL announced by both, as two hosts of one name would without advertise_url.
            let twin: [String: Any] = [
                "store": redis.url, "node_id": "twin", "heartbeat_interval_seconds": 0.5, "cluster_secret": StoreTrustTests.secret,
                "advertise_url": "http://twin.invalid:8080",
            ]
            try await CrashTestBed.run(containment: .processGroup, extra: twin) { a in
                try await CrashTestBed.run(containment: .processGroup, extra: twin) { b in
                    let first = try await a.startCorral()
                    let session = try await first.start(#"{"agent": "sleeper", "session_id": "twin-call"}"#)
                    let second = try await b.serveExpectingRefusal()
                    #expect(second.status == 1, "\(second.errors)")
                    #expect(second.errors.contains("another corral is node 'twin' of this cluster"), "\(second.errors)")
                    let client = try RedisClient(redis.url)
                    defer { client.close() }
                    #expect(try await client.send("HGET", "session:twin-call", "agentPid").string == String(session.pid))
                    #expect(try await first.request(.DELETE, "/api/sessions/twin-call").status == 200)
                }
            }
        }
    }

    /// The list of nodes keeps only those that may come back: one that stops cleanly takes
    /// itself out, and one gone for a day (no announcement, no mark of its writes) is taken out
    /// by the others.
    @Test func departedNodesLeaveTheList() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            let client = try RedisClient(redis.url)
            defer { client.close() }
            _ = try await client.send("SADD", "corral:nodes", "ghost", "resting")
            _ = try await client.send("SET", "corral:node:resting:writes", "1", "EX", "600")
            let node: [String: Any] = ["store": redis.url, "node_id": "leaving", "heartbeat_interval_seconds": 0.5, "cluster_secret": StoreTrustTests.secret]
            try await CrashTestBed.run(containment: .processGroup, extra: node) { bed in
                let corral = try await bed.startCorral()
                #expect(try await ProcessProbe.waitUntil {
                    try await client.send("SISMEMBER", "corral:nodes", "ghost").integer == 0
                }, "\(corral.log.suffix(2000))")
                #expect(try await client.send("SISMEMBER", "corral:nodes", "resting").integer == 1, "its writes were marked within a day")
                #expect(try await client.send("SISMEMBER", "corral:nodes", "leaving").integer == 1)
                // Kept three beats of 0.5 s (it was 1 s: the fraction was dropped).
                #expect((try await client.send("PTTL", "corral:node:leaving").integer ?? 0) > 1000)
                #expect(await corral.terminate() == 0)
                bed.corral = nil
                #expect(try await client.send("SISMEMBER", "corral:nodes", "leaving").integer == 0)
                #expect(try await client.send("EXISTS", "corral:node:leaving").integer == 0)
            }
        }
    }

    /// A Redis that answers but will not let the node in (a wrong password, none, a database it
    /// does not have) stops start-up with what Redis said; retrying would not change it.
    @Test func aRedisThatRefusesTheNodeStopsStartUp() async throws {
        try await RedisServer.with(password: "the-right-one") { (redis: RedisServer) async throws in
            for (url, said) in [
                ("redis://:the-wrong-one@127.0.0.1:\(redis.port)", "WRONGPASS"), ("redis://127.0.0.1:\(redis.port)", "NOAUTH"),
                ("redis://:the-right-one@127.0.0.1:\(redis.port)/99", "DB index"),
            ] {
                let node: [String: Any] = ["store": url, "node_id": "refused", "cluster_secret": StoreTrustTests.secret]
                try await CrashTestBed.run(containment: .processGroup, extra: node) { bed in
                    let served = try await bed.serveExpectingRefusal()
                    #expect(served.status == 1, "\(url): \(served.errors)")
                    #expect(served.errors.contains("store: Redis refuses this node") && served.errors.contains(said), "\(url): \(served.errors)")
                    #expect(!served.errors.contains("the-wrong-one") && !served.errors.contains("the-right-one"), "\(served.errors)")
                }
            }
        }
    }

    /// Redis stalls (stopped, not gone): an end waits out the store's timeout once, for its
    /// status write; its delete, queued behind that, is not tried while Redis has not answered
    /// since, and is made once it does.
    @Test func anEndDuringAStallWaitsForTheStoreOnce() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            let node: [String: Any] = ["store": redis.url, "node_id": "stalled", "heartbeat_interval_seconds": 0.5, "cluster_secret": StoreTrustTests.secret]
            try await CrashTestBed.run(containment: .processGroup, extra: node) { bed in
                let corral = try await bed.startCorral()
                let session = try await corral.start(#"{"agent": "sleeper", "session_id": "stalled-call"}"#)
                #expect(kill(redis.pid, SIGSTOP) == 0)
                var resumed = false
                defer { if !resumed { kill(redis.pid, SIGCONT) } }
                let ended = try await corral.request(.DELETE, "/api/sessions/stalled-call", timeout: .seconds(60))
                #expect(kill(redis.pid, SIGCONT) == 0)
                resumed = true
                #expect(ended.status == 200, "\(ended.text)")
                #expect(!ProcessProbe.isAlive(session.pid))
                #expect(corral.log.contains("not tried: the session store stalls and has not answered since"), "\(corral.log.suffix(3000))")
                let client = try RedisClient(redis.url)
                defer { client.close() }
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await client.send("EXISTS", "session:stalled-call").integer == 0
                }, "the record is deleted once Redis answers")
                // Starts are taken as soon as Redis answers again.
                let next = try await corral.request(.POST, "/api/sessions", body: #"{"agent": "sleeper", "session_id": "after-stall"}"#, timeout: .seconds(60))
                #expect(next.status == 201, "\(next.text)")
                #expect(try await corral.request(.DELETE, "/api/sessions/after-stall").status == 200)
            }
        }
    }

    /// What Redis says while it loads or is busy passes; what it says of a wrong user, password
    /// or database does not.
    @Test(arguments: [
        ("WRONGPASS invalid username-password pair or user is disabled.", true), ("NOAUTH Authentication required.", true),
        ("NOPERM this user has no permissions to run the 'ping' command", true), ("ERR DB index is out of range", true),
        ("ERR AUTH <password> called without any password configured for the default user.", true), ("ERR invalid password", true),
        ("LOADING Redis is loading the dataset in memory", false), ("BUSY Redis is busy running a script.", false),
        ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.", false),
        ("READONLY You can't write against a read only replica.", false),
    ])
    func whatRedisSaysOfThisNode(message: String, refuses: Bool) {
        #expect(Cluster.refusesThisNode(message) == refuses)
    }

    @Test func threeNodesShareTheWork() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in try await threeNodes(redis) }
    }

    func threeNodes(_ redis: RedisServer) async throws {
        func node(_ name: String, maxSessions: Int = 100) -> [String: Any] {
            ["store": redis.url, "node_id": name, "heartbeat_interval_seconds": 0.3, "max_sessions": maxSessions, "cluster_secret": StoreTrustTests.secret]
        }
        try await CrashTestBed.run(containment: .processGroup, extra: node("node-a", maxSessions: 2)) { a in
            try await CrashTestBed.run(containment: .processGroup, extra: node("node-b")) { b in
                try await CrashTestBed.run(containment: .processGroup, extra: node("node-c")) { c in
                    let nodeA = try await a.startCorral()
                    var nodeB = try await b.startCorral()
                    let nodeC = try await c.startCorral()

                    // Started through A, runs on A; listed through C.
                    let first = try await nodeA.start(#"{"agent": "sleeper", "session_id": "n1"}"#)
                    _ = try await nodeA.start(#"{"agent": "sleeper", "session_id": "n2"}"#)
                    #expect(first["node"] as? String == "node-a")
                    let listed = try await nodeC.sessions()
                    #expect(Set(listed.map(\.sessionID)) == ["n1", "n2"])
                    #expect(listed.allSatisfy { $0["node"] as? String == "node-a" })
                    #expect(try await nodeC.request(.GET, "/api/sessions/n1").status == 200)

                    // Ended through B: passed on to A.
                    let end = try await nodeB.request(.DELETE, "/api/sessions/n1")
                    #expect(end.status == 200, "\(end.text)")
                    #expect(!ProcessProbe.isAlive(first.pid))
                    #expect(try await nodeC.request(.GET, "/api/sessions/n1").status == 404)
                    let inspected = try await nodeC.request(.GET, "/api/debug/session/n2/processes")
                    #expect(inspected.status == 200 && inspected.text.contains("sleep 1000"))

                    // A is full (max_sessions 2): a start through it runs on the least-loaded node.
                    _ = try await nodeA.start(#"{"agent": "sleeper", "session_id": "n3"}"#)
                    let overflow = try await nodeA.start(#"{"agent": "sleeper", "session_id": "n4"}"#)
                    #expect(["node-b", "node-c"].contains(overflow["node"] as? String ?? ""), "\(overflow)")

                    // B dies: its sessions show as lost elsewhere, and come back with it.
                    let onB = try await nodeB.start(#"{"agent": "sleeper", "session_id": "on-b"}"#)
                    await b.crash()
                    #expect(try await ProcessProbe.waitUntil {
                        try await nodeC.sessions().first { $0.sessionID == "on-b" }?["status"] as? String == "lost"
                    })
                    #expect(try await nodeC.request(.DELETE, "/api/sessions/on-b").status == 503)
                    #expect(ProcessProbe.isAlive(onB.pid), "a crash of corral does not end its sessions")
                    nodeB = try await b.startCorral()
                    #expect(try await ProcessProbe.waitUntil {
                        try await nodeC.sessions().first { $0.sessionID == "on-b" }?["status"] as? String == "running"
                    })
                    #expect(try await nodeC.request(.DELETE, "/api/sessions/on-b").status == 200)
                    #expect(!ProcessProbe.isAlive(onB.pid))
                    _ = nodeA
                }
            }
        }
    }

    /// A followed log of a session on another node streams through the node asked: lines arrive
    /// while the session runs (the forwarder used to gather the whole answer first).
    @Test func aFollowedLogStreamsThroughAnotherNode() async throws {
        try await RedisServer.with { (redis: RedisServer) async throws in
            func node(_ name: String) -> [String: Any] {
                ["store": redis.url, "node_id": name, "heartbeat_interval_seconds": 0.3, "cluster_secret": StoreTrustTests.secret]
            }
            try await CrashTestBed.run(containment: .processGroup, extra: node("node-a")) { a in
                try await CrashTestBed.run(containment: .processGroup, extra: node("node-b")) { b in
                    var agents = a.config["agents"] as! [String: Any]
                    agents["chatty"] = [
                        "command": ["/bin/sh", "-c", "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.1; done"],
                        "env": ["CORRAL_TEST_RUN": a.tag],
                    ]
                    a.config["agents"] = agents
                    let nodeA = try await a.startCorral()
                    let nodeB = try await b.startCorral()
                    _ = try await nodeA.start(#"{"agent": "chatty", "session_id": "chatter"}"#)
                    #expect(try await ProcessProbe.waitUntil { try await nodeB.request(.GET, "/api/sessions/chatter").status == 200 })

                    let request = HTTPClientRequest(url: "http://127.0.0.1:\(nodeB.port)/api/sessions/chatter/logs?follow=true&tail=0")
                    let response = try await TestHTTP.client.execute(request, timeout: .seconds(30))
                    #expect(response.status == .ok)
                    // Read until three lines came, with a deadline; the session is still running.
                    let lines = try await withThrowingTaskGroup(of: Int.self) { group in
                        group.addTask {
                            var text = ""
                            for try await chunk in response.body {
                                text += String(buffer: chunk)
                                if text.components(separatedBy: "line ").count > 3 { break }
                            }
                            return text.components(separatedBy: "line ").count - 1
                        }
                        group.addTask {
                            try await Task.sleep(for: .seconds(60))
                            return -1
                        }
                        let first = try await group.next()!
                        group.cancelAll()
                        return first
                    }
                    #expect(lines >= 3, "no streamed lines through node-b")
                    #expect(try await nodeB.request(.DELETE, "/api/sessions/chatter").status == 200)
                }
            }
        }
    }
}
