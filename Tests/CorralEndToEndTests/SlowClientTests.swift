import CorralCore
import CorralTestSupport
import Crypto
import Foundation
import Testing

/// Clients that take their time: they must not hold request slots, memory or connections.
@Suite("Slow and unauthenticated clients")
struct SlowClientTests {
    static let secret = "a-secret-for-the-drip-tests-0123456789"
    static var livekit: [String: Any] { ["url": "wss://livekit.example.test", "api_key": "APIdrip", "api_secret": secret] }

    /// A webhook signature as LiveKit makes it (HS256, issued by the API key), for `body`.
    static func signature(for body: String) -> String {
        func base64URL(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let digest = Data(SHA256.hash(data: Data(body.utf8))).base64EncodedString()
        let claims = #"{"exp":\#(Int(Date().timeIntervalSince1970) + 300),"iss":"APIdrip","sha256":"\#(digest)"}"#
        let input = base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + base64URL(Data(claims.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(Self.secret.utf8)))
        return input + "." + base64URL(Data(mac))
    }

    static func webhookHead(authorization: String, length: Int) -> String {
        "POST /api/livekit/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/webhook+json\r\n"
            + "Authorization: \(authorization)\r\nContent-Length: \(length)\r\n\r\n{"
    }

    /// The attack: more connections than request slots, each announcing a 1 MB webhook and
    /// sending it a byte every so often. Probes and authenticated callers must be answered all
    /// the while, and the strangers refused from their header.
    @Test func aDripOfUnsignedWebhooksHoldsNoRequestSlot() async throws {
        try await CrashTestBed.run(
            containment: .processGroup,
            extra: ["api_token": "drip-token", "max_concurrent_requests": 4, "livekit": Self.livekit]
        ) { bed in
            let corral = try await bed.startCorral()
            let drips = try (0..<12).map { _ in try RawConnection(port: corral.port) }
            for drip in drips { drip.send(Self.webhookHead(authorization: "eyJhbGciOiJIUzI1NiJ9.e30.forged", length: 1_000_000)) }
            var answers: [Int: String] = [:]
            for _ in 0..<6 {
                // One byte on each connection every half second: never idle.
                try await Task.sleep(for: .milliseconds(500))
                for (index, drip) in drips.enumerated() {
                    drip.send("x")
                    if answers[index] == nil { answers[index] = await drip.read(timeout: .milliseconds(1)).nilIfEmpty }
                }
                #expect(try await corral.request(.GET, "/healthz").status == 200)
                #expect(try await corral.request(.GET, "/readyz").status == 200)
                let listed = try await corral.request(.GET, "/api/sessions", headers: ["Authorization": "Bearer drip-token"])
                #expect(listed.status == 200, "an authenticated request was refused during the drip: \(listed.status) \(listed.text)")
            }
            for index in drips.indices where answers[index] == nil { answers[index] = await drips[index].read(timeout: .seconds(5)) }
            #expect(answers.values.allSatisfy { $0.hasPrefix("HTTP/1.1 401") }, "each forged webhook is refused from its header: \(answers)")
        }
    }

    /// Connections are capped before any authentication (a client opening thousands ran corral
    /// out of descriptors, and its accept loop spun a core). Past `max_connections`, corral closes
    /// the connection idle longest to make room: a client holding connections open without using
    /// them keeps nobody out. Connections answering a request (event streams here) are never closed
    /// for room; with only those open (and the one more accepted while room is sought), a new one
    /// waits in the listen queue, unanswered, and is served once one of them ends.
    @Test func connectionsPastTheCapMakeRoomOrWait() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["max_connections": 4, "idle_timeout_seconds": 600]) { bed in
            let corral = try await bed.startCorral()
            let health = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            /// A new connection, once its `GET /healthz` is answered 200; kept open (HTTP/1.1
            /// keeps it alive), and idle from then on.
            func served(_ what: String) async throws -> RawConnection {
                let connection = try RawConnection(port: corral.port)
                connection.send(health)
                let answer = await connection.read(timeout: .seconds(30))
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(what) not served: \(answer)")
                return connection
            }
            var held: [RawConnection] = []
            for index in 0..<4 { held.append(try await served("connection \(index) under the cap")) }
            // Each newcomer is served, the connections idle longest closed to make room for it
            // (without that, they would hold their places for idle_timeout_seconds).
            var newcomers: [RawConnection] = []
            for index in 0..<3 { newcomers.append(try await served("newcomer \(index) past the cap")) }
            #expect(await held[0].closedByServer(within: .seconds(30)), "the connection idle longest was not closed for room")
            #expect(corral.log.contains("max_connections connections are open"), "\(corral.log.suffix(2000))")
            for connection in held + newcomers { connection.close() }
            // Only event streams open, the cap's and one more: nothing may be closed, so the next
            // connection waits its turn.
            var streams: [RawConnection] = []
            for _ in 0..<5 { streams.append(try #require(try await StreamTests.openWhenAdmitted("/api/events", port: corral.port))) }
            let waiting = try RawConnection(port: corral.port)
            waiting.send(health)
            let early = await waiting.read(timeout: .seconds(2))
            #expect(early.isEmpty, "answered past the cap with every connection answering: \(early)")
            for (index, stream) in streams.enumerated() {
                #expect(!(await stream.closedByServer(within: .milliseconds(100))), "event stream \(index) was closed for room")
            }
            streams[0].close()
            let answer = await waiting.read(timeout: .seconds(30))
            #expect(answer.hasPrefix("HTTP/1.1 200"), "not served once a connection closed: \(answer)")
            for connection in streams + [waiting] { connection.close() }
        }
    }

    /// A request answered before its body is in (401 from its header) still has to finish
    /// arriving by its deadline, and then the connection is closed, with no second answer.
    @Test func anAnsweredRequestGetsNoSecondAnswerAtItsDeadline() async throws {
        try await CrashTestBed.run(
            containment: .processGroup,
            extra: ["api_token": "drip-token", "request_timeout_seconds": 1, "livekit": Self.livekit]
        ) { bed in
            let corral = try await bed.startCorral()
            let drip = try RawConnection(port: corral.port)
            drip.send(Self.webhookHead(authorization: "eyJhbGciOiJIUzI1NiJ9.e30.forged", length: 1_000_000))
            let answer = await drip.read(timeout: .seconds(10))
            #expect(answer.hasPrefix("HTTP/1.1 401"), "\(answer)")
            var more = ""
            let closed = await ProcessProbe.waitUntil(timeout: .seconds(10), every: .milliseconds(200)) {
                drip.send("x")
                more += await drip.read(timeout: .milliseconds(1))
                return drip.endSeen
            }
            #expect(closed, "the connection outlived its request's deadline")
            #expect(more.isEmpty, "a second answer came after the 401: \(more)")
        }
    }

    /// LiveKit's events are a few KiB; a signed body of 100 KiB is not one of them.
    @Test func webhookBodiesHaveASmallLimit() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["api_token": "drip-token", "livekit": Self.livekit]) { bed in
            let corral = try await bed.startCorral()
            let padding = String(repeating: "x", count: 100 * 1024)
            let large = #"{"event": "room_finished", "room": {"name": "big"}, "id": "EV_BIG", "padding": "\#(padding)"}"#
            let reply = try await corral.request(
                .POST, "/api/livekit/webhook", body: large, headers: ["Authorization": Self.signature(for: large), "Content-Type": "application/webhook+json"]
            )
            #expect(reply.status == 413, "\(reply.status) \(reply.text)")
            let small = #"{"event": "room_finished", "room": {"name": "small"}, "id": "EV_SMALL"}"#
            let accepted = try await corral.request(
                .POST, "/api/livekit/webhook", body: small, headers: ["Authorization": Self.signature(for: small), "Content-Type": "application/webhook+json"]
            )
            #expect(accepted.status == 200, "\(accepted.text)")
        }
    }

    /// A signed webhook may take a slot, but only for `request_timeout_seconds`: a body that
    /// keeps trickling in is cut off with 408, and the slot is free again.
    @Test func aRequestMustArriveWithinItsDeadline() async throws {
        try await CrashTestBed.run(
            containment: .processGroup,
            extra: ["api_token": "drip-token", "max_concurrent_requests": 2, "request_timeout_seconds": 2, "livekit": Self.livekit]
        ) { bed in
            let corral = try await bed.startCorral()
            let token = ["Authorization": "Bearer drip-token"]
            let body = #"{"event": "room_finished", "room": {"name": "slow"}, "id": "EV_SLOW"}"#
            let signed = Self.signature(for: body)
            let drips = try (0..<2).map { _ in try RawConnection(port: corral.port) }
            for drip in drips { drip.send(Self.webhookHead(authorization: signed, length: body.utf8.count + 1000)) }
            // And one whose headers never end.
            let slowHeaders = try RawConnection(port: corral.port)
            slowHeaders.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            let dripping = Task {
                for _ in 0..<60 {
                    try await Task.sleep(for: .milliseconds(250))
                    guard (drips + [slowHeaders]).map({ $0.send("x") }).contains(true) else { return }
                }
            }
            defer { dripping.cancel() }
            // The signed drips hold both slots for a while, then lose them.
            let freed = try await ProcessProbe.waitUntil(timeout: .seconds(10)) {
                try await corral.request(.GET, "/api/sessions", headers: token).status == 200
            }
            #expect(freed, "the slots held by trickling requests were never freed")
            // A drip whose head reached corral while a poll held the other slot was refused at
            // once (503) and never held one; every other is cut at its deadline (408).
            var timedOut = 0
            for drip in drips + [slowHeaders] {
                let answer = await drip.read(timeout: .seconds(10))
                let refusedAtOnce = drip !== slowHeaders && answer.hasPrefix("HTTP/1.1 503") && answer.contains("max_concurrent_requests")
                #expect(answer.hasPrefix("HTTP/1.1 408") || refusedAtOnce, "\(answer)")
                if answer.hasPrefix("HTTP/1.1 408") { timedOut += 1 }
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(5)) { drip.closedByServer })
            }
            #expect(timedOut >= 2, "no trickling request held a slot until its deadline")
            // A request that arrives in time is untouched by the deadline.
            #expect(try await corral.request(.GET, "/api/sessions", headers: token).status == 200)
        }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
