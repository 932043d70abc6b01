import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// How a request is read off the wire: what its head and framing must be (sizes, a second Host,
/// transfer and content codings, an expected continue), what is answered when they are not, and
/// that a client cannot hold a connection by sending slowly. Each against a corral of its own.
@Suite("Security: how requests are read")
struct RequestFramingTests {
    @Test func oversizedHeadersAreRefused() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let corral = try await bed.startCorral()
            // One field over 16 KiB, all of them over 32 KiB, more than 100 fields: 431, as
            // docs/security.md says, and the connection is closed.
            let large = try await corral.request(.GET, "/healthz", headers: ["X-Padding": String(repeating: "a", count: 40_000)])
            #expect(large.status == 431, "\(large.status) \(large.text)")
            #expect(large.json["error"] as? String != nil)
            var many: [String: String] = [:]
            for index in 0..<150 { many["X-Field-\(index)"] = "1" }
            #expect(try await corral.request(.GET, "/api/sessions", headers: many).status == 431)
            let raw = try RawConnection(port: corral.port)
            raw.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (0..<8).map { "X-Part-\($0): \(String(repeating: "b", count: 5000))\r\n" }.joined() + "\r\n")
            #expect(await raw.read(timeout: .seconds(10)).hasPrefix("HTTP/1.1 431"))
            #expect(await ProcessProbe.waitUntil { raw.closedByServer })
            #expect(try await corral.request(.GET, "/healthz").status == 200)
        }
    }

    /// What the HTTP parser refuses is answered 400 with a JSON error that says so (it was a bare
    /// 400, no body), and so is a second Host header (only the first was checked); the
    /// connection is closed and nothing of the request acted on.
    @Test(arguments: [
        ("GARBAGE\r\n\r\n", "not valid HTTP/1.1"),
        ("POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "not valid HTTP/1.1"),
        ("POST /api/sessions HTTP/1.1\r\nHost : 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}", "not valid HTTP/1.1"),
        ("POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
         "more than one Host header"),
    ])
    func requestsThatAreNotHTTPAreAnsweredInJSON(request: String, says: String) async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let corral = try await bed.startCorral()
            let raw = try RawConnection(port: corral.port)
            raw.send(request)
            let answer = await raw.read(timeout: .seconds(30))
            #expect(answer.hasPrefix("HTTP/1.1 400") && answer.contains(#""code":"invalid_input""#) && answer.contains(says), "\(answer)")
            #expect(await raw.closedByServer(within: .seconds(30)))
            #expect(try await corral.sessions().isEmpty, "nothing of the request was acted on")
        }
    }

    /// A session start's head that expects `100 Continue`, for a body of `length` bytes.
    static func expectingHead(version: String = "1.1", length: Int) -> String {
        "POST /api/sessions HTTP/\(version)\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + "Content-Length: \(length)\r\n\r\n"
    }

    /// A client that sends `Expect: 100-continue` waits for the 100 before its body (curl for a
    /// second, others for ever): it comes at once, and the request is served; a body declared
    /// over the limit gets its 413 instead, without being sent, and the connection is closed
    /// (the body it did not send cannot be told from a next request). An HTTP/1.0 client's
    /// expectation is ignored (no 1xx may reach it).
    @Test func aClientThatExpectsContinueIsToldToGoOn() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let corral = try await bed.startCorral()
            let raw = try RawConnection(port: corral.port)
            let body = #"{"agent": "sleeper", "session_id": "continued"}"#
            raw.send(Self.expectingHead(length: body.utf8.count))
            let interim = await raw.read(timeout: .seconds(30))
            #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n", "\(interim)")
            raw.send(body)
            let answer = await raw.read(timeout: .seconds(30))
            #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer)")
            #expect(try await corral.sessions().map(\.sessionID) == ["continued"])
            #expect(try await corral.request(.DELETE, "/api/sessions/continued").status == 200)

            let large = try RawConnection(port: corral.port)
            large.send(Self.expectingHead(length: 10_000_000))
            let refusal = await large.read(timeout: .seconds(30))
            #expect(refusal.hasPrefix("HTTP/1.1 413") && !refusal.contains("100 Continue"), "\(refusal)")
            #expect(refusal.lowercased().contains("connection: close"), "\(refusal)")
            #expect(await large.closedByServer(within: .seconds(30)))

            // Head and body at once: a 100 would come before the answer.
            let old = try RawConnection(port: corral.port)
            let oldBody = #"{"agent": "sleeper", "session_id": "http10"}"#
            old.send(Self.expectingHead(version: "1.0", length: oldBody.utf8.count) + oldBody)
            let oldAnswer = await old.read(timeout: .seconds(30))
            #expect(oldAnswer.contains(" 201 ") && !oldAnswer.contains("100 Continue"), "\(oldAnswer)")
            #expect(try await corral.request(.DELETE, "/api/sessions/http10").status == 200)
        }
    }

    /// A request answered from its head (401) whose body then comes in full leaves the
    /// connection ready for the next request, which is not taken for one pipelined behind an
    /// answer: it gets its 100.
    @Test func aRequestAfterAnEarlyAnswerIsToldToGoOn() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["api_token": "early-token"]) { bed in
            let corral = try await bed.startCorral()
            let raw = try RawConnection(port: corral.port)
            let body = #"{"agent": "sleeper", "session_id": "early"}"#
            let head = "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            raw.send(head + "\r\n")
            let refused = await raw.read(timeout: .seconds(30))
            #expect(refused.hasPrefix("HTTP/1.1 401"), "\(refused)")
            raw.send(body)
            raw.send(head + "Authorization: Bearer early-token\r\nExpect: 100-continue\r\n\r\n")
            let interim = await raw.read(timeout: .seconds(30))
            #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n", "\(interim)")
            raw.send(body)
            let answer = await raw.read(timeout: .seconds(30))
            #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer)")
            #expect(try await corral.request(.DELETE, "/api/sessions/early", headers: ["Authorization": "Bearer early-token"]).status == 200)
        }
    }

    /// Bytes that are not HTTP right behind a request (pipelined), or a request refused at its head
    /// (a second Host), do not cost that request its answer: it was acted on, and its answer
    /// comes whole; then the connection closes. (The 400 for the bad bytes was written in its
    /// place, saying nothing was acted on.)
    @Test(arguments: ["\u{1}GARBAGE\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\n\r\n"])
    func aRequestPipelinedBeforeGarbageIsAnswered(garbage: String) async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let corral = try await bed.startCorral()
            let raw = try RawConnection(port: corral.port)
            let body = #"{"agent": "sleeper", "session_id": "pipelined-one"}"#
            raw.send(
                "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                    + garbage
            )
            var answer = ""
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30), every: .milliseconds(50)) {
                answer += await raw.read(timeout: .milliseconds(200))
                return raw.endSeen
            })
            #expect(answer.hasPrefix("HTTP/1.1 201") && answer.contains("pipelined-one"), "\(answer)")
            #expect(!answer.contains("nothing of it was acted on"), "\(answer)")
            #expect(try await corral.sessions().map(\.sessionID) == ["pipelined-one"])
            #expect(try await corral.request(.DELETE, "/api/sessions/pipelined-one").status == 200)
        }
    }

    /// A declared length over the limit is refused before a byte of the body is read (it waited
    /// for the request deadline, then said 408); a chunk size that is not hexadecimal is a 400,
    /// not "too large"; a transfer coding besides chunked is a 501, a content coding a 415.
    @Test func bodiesAreRefusedByTheirFraming() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["request_timeout_seconds": 300]) { bed in
            let corral = try await bed.startCorral()
            /// The answer to `request` on a connection of its own.
            func answer(_ request: String) async throws -> String {
                let connection = try RawConnection(port: corral.port)
                connection.send(request)
                return await connection.read(timeout: .seconds(60))
            }
            let post = "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            let tooLarge = try await answer(post + "Content-Length: 99999999999\r\n\r\n{}")
            #expect(tooLarge.hasPrefix("HTTP/1.1 413") && tooLarge.contains("larger than 64 KiB"), "\(tooLarge)")
            let malformed = try await answer(post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
            #expect(malformed.hasPrefix("HTTP/1.1 400"), "\(malformed)")
            // A coding besides chunked (an attacker's review: read as chunked, a session started).
            for codings in ["gzip, chunked", "gzip"] {
                let refused = try await answer(post + "Transfer-Encoding: \(codings)\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
                #expect(refused.hasPrefix("HTTP/1.1 501") && refused.contains("only chunked"), "\(codings): \(refused)")
            }
            // A compressed body was read as it came: gzip's bytes refused as JSON, or a JSON body
            // that claimed gzip taken as JSON (an attacker's review).
            for coding in ["gzip", "identity, br"] {
                let refused = try await answer(post + "Content-Encoding: \(coding)\r\nContent-Length: 2\r\n\r\n{}")
                #expect(refused.hasPrefix("HTTP/1.1 415") && refused.contains("uncompressed"), "\(coding): \(refused)")
            }
            let plain = try await answer(post + "Content-Encoding: identity\r\nContent-Length: 29\r\n\r\n{\"session_id\": \"plain-coded\"}")
            #expect(plain.hasPrefix("HTTP/1.1 201"), "\(plain)")
            #expect(try await corral.request(.DELETE, "/api/sessions/plain-coded").status == 200)
            let answered = try await answer("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n")
            #expect(answered.hasPrefix("HTTP/1.1 200"), "\(answered)")
            #expect(try await corral.sessions().isEmpty)
        }
    }

    @Test func slowClientsAreDisconnected() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["idle_timeout_seconds": 1]) { bed in
            let corral = try await bed.startCorral()
            // Half a request, then nothing: the connection must not stay open.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(corral.port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            #expect(connected == 0)
            let partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
            _ = partial.withCString { send(fd, $0, strlen($0), 0) }
            // Closed (or answered 4xx) by the server, not given up by this side's own timeout.
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 512)
            let got = recv(fd, &buffer, buffer.count, 0)
            #expect(got >= 0, "the idle connection was kept open (errno \(errno))")
            #expect(got == 0 || String(decoding: buffer.prefix(max(0, got)), as: UTF8.self).hasPrefix("HTTP/1.1 4"), "the server answered \(got) bytes")
        }
    }
}
