import CorralCore
import CorralTestSupport
import Foundation
import HTTPTypes
import Testing

@Suite("Bad input gets a 4xx and the server keeps serving")
struct RequestValidationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let method: HTTPRequest.Method
        let path: String
        let body: String?
        let status: HTTPResponse.Status
        var testDescription: String {
            let shown = body.map { $0.count > 60 ? $0.prefix(60) + "…(\($0.count) bytes)" : $0 } ?? ""
            return "\(method) \(path) \(shown) → \(status.code)"
        }
    }

    static let cases: [Case] = [
        Case(method: .post, path: "/api/sessions", body: "{not json", status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: "[1, 2]", status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"agnet": "demo"}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"session_id": "../../etc/passwd"}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"session_id": ".hidden"}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"session_id": ""}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"session_id": 12}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: "{\"session_id\": \"\(String(repeating: "a", count: 129))\"}", status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"metadata": {"a": 1}}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"metadata": "x"}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"timeout_seconds": -5}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"timeout_seconds": "10"}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"timeout_seconds": 1e12}"#, status: .badRequest),
        Case(method: .post, path: "/api/sessions", body: #"{"agent": "no-such-agent"}"#, status: .notFound),
        Case(method: .post, path: "/api/sessions", body: "{\"metadata\": {\"k\": \"\(String(repeating: "x", count: 70_000))\"}}", status: .contentTooLarge),
        Case(method: .get, path: "/api/sessions/unknown-session", body: nil, status: .notFound),
        Case(method: .delete, path: "/api/sessions/unknown-session", body: nil, status: .notFound),
        Case(method: .get, path: "/api/sessions/bad%2Fid", body: nil, status: .badRequest),
        Case(method: .get, path: "/api/debug/session/unknown-session/processes", body: nil, status: .notFound),
        Case(method: .get, path: "/api/nothing-here", body: nil, status: .notFound),
        Case(method: .put, path: "/api/sessions", body: "{}", status: .methodNotAllowed),
        Case(method: .patch, path: "/api/sessions/some-id", body: "{}", status: .methodNotAllowed),
        Case(method: .get, path: "/api/sessions?usage=maybe", body: nil, status: .badRequest),
        // The OpenAPI document lists the values in lower case (schemathesis found TRUE taken).
        Case(method: .get, path: "/api/sessions?usage=TRUE", body: nil, status: .badRequest),
    ]

    @Test(arguments: cases)
    func badRequestIsRefused(_ testCase: Case) async throws {
        try await TestCorral().run { client in
            let reply = try await client.request(testCase.method, testCase.path, body: testCase.body)
            #expect(reply.status == testCase.status, "\(reply.text)")
            #expect(reply.json["error"] is String, "errors are {\"error\": message}: \(reply.text)")
            // The code says the same as the status, in words a client can switch on.
            let codes: [Int: String] = [400: "invalid_input", 404: "not_found", 405: "method_not_allowed", 413: "too_large"]
            #expect(reply.json["code"] as? String == codes[testCase.status.code], "\(reply.text)")
            #expect(try await client.request(.get, "/healthz").status == .ok)
            #expect(try await client.request(.get, "/api/sessions").status == .ok)
        }
    }

    /// Each refusal says what is wrong with the value ("expected a string, got a string" did not).
    @Test(arguments: [
        (#"{"metadata": {"a": "b\u0000c"}}"#, "metadata.a: must not contain NUL"),
        (#"{"metadata": {"k\u0000": "v"}}"#, "metadata: keys must not contain NUL"),
        (#"{"agent": ""}"#, "agent: must not be empty"),
        (#"{"agent": 5}"#, "agent: expected a non-empty string, got a number"),
        // Ambiguous: the first was taken.
        (#"{"session_id": "dup1", "session_id": "dup2"}"#, "not valid JSON: line 1, column 24: duplicate key 'session_id'"),
        (#"{"timeout_seconds": 1e999}"#, "the number 1e999 is out of range"),
        (#"{"livekit": {"room": "r\n1"}}"#, "livekit.room: must not contain control characters"),
    ])
    func refusalsNameTheProblem(body: String, says: String) async throws {
        try await TestCorral().run { client in
            let reply = try await client.request(.post, "/api/sessions", body: body)
            #expect(reply.status == .badRequest)
            #expect((reply.json["error"] as? String)?.contains(says) == true, "\(reply.text)")
        }
    }

    @Test func idInUseIsAConflict() async throws {
        try await TestCorral().run { client in
            let session = try await client.start(#"{"session_id": "call-42", "agent": "sleeper"}"#)
            #expect(session.id == "call-42")
            let again = try await client.request(.post, "/api/sessions", body: #"{"session_id": "call-42"}"#)
            #expect(again.status == .conflict)
            #expect(again.json["code"] as? String == "conflict" && (again.json["error"] as? String)?.contains("'call-42' is already in use") == true, "\(again.text)")
            #expect(try await client.request(.delete, "/api/sessions/call-42").status == .ok)
            // Once ended, the id may be used again, with a log file of its own.
            let reused = try await client.start(#"{"session_id": "call-42", "agent": "sleeper"}"#)
            #expect(reused.pid != session.pid)
            let logs = try FileManager.default.contentsOfDirectory(atPath: client.services.dataDirectory.logsPath)
            #expect(logs.filter { $0.hasPrefix("call-42") }.count == 2)
        }
    }

    @Test func generatedIDsFollowTheContract() async throws {
        try await TestCorral().run { client in
            let session = try await client.start(#"{"agent": "sleeper"}"#)
            #expect(session.id.wholeMatch(of: /session_[0-9]{13}_[a-z0-9]{9}/) != nil, "\(session.id)")
        }
    }

    @Test func capacityIsEnforced() async throws {
        try await TestCorral(configure: { $0.maxSessions = 2 }).run { client in
            _ = try await client.start(#"{"agent": "sleeper"}"#)
            _ = try await client.start(#"{"agent": "sleeper"}"#)
            let third = try await client.request(.post, "/api/sessions", body: #"{"agent": "sleeper"}"#)
            #expect(third.status == .serviceUnavailable)
            #expect((third.json["error"] as? String)?.contains("max_sessions") == true)
        }
    }

    @Test func bearerTokenGuardsTheAPI() async throws {
        try await TestCorral(configure: { $0.apiToken = "s3cret" }).run { client async throws in
            let anonymous = TestCorral.Client(client: client.client, services: client.services, token: nil)
            #expect(try await anonymous.request(.get, "/api/sessions").status == .unauthorized)
            #expect(try await anonymous.request(.get, "/api/sessions", headers: [.authorization: "Bearer wrong"]).status == .unauthorized)
            #expect(try await anonymous.request(.post, "/api/sessions", body: "{}").status == .unauthorized)
            #expect(try await anonymous.request(.get, "/healthz").status == .ok)
            #expect(try await client.request(.get, "/api/sessions").status == .ok)
        }
    }

    @Test func metricsAreServed() async throws {
        try await TestCorral().run { client in
            let session = try await client.start(#"{"agent": "sleeper"}"#)
            _ = try await client.request(.delete, "/api/sessions/\(session.id)")
            let metrics = try await client.request(.get, "/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.text.contains(#"corral_sessions_started_total{agent="sleeper"} 1"#))
            #expect(metrics.text.contains(#"corral_sessions_ended_total{agent="sleeper",reason="deleted"} 1"#))
        }
    }
}

