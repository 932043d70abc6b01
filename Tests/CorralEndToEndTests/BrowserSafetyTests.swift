import CorralCore
import CorralPlatform
import CorralServer
import CorralTestSupport
import Foundation
import HTTPTypes
import Testing
import CorralConfiguration

/// Without a token (the default) corral must still be out of reach of web pages the user
/// happens to open: cross-site requests, DNS rebinding, and what an anonymous caller may see.
@Suite("Safe on its defaults: browsers, Host names, anonymous callers")
struct BrowserSafetyTests {
    @Test func crossSiteRequestsAreRefused() async throws {
        try await TestCorral().run { client in
            let body = #"{"agent": "sleeper", "session_id": "from-a-page"}"#
            // A form or a no-cors fetch from another site: text/plain, with the page's Origin.
            let forged = try await client.request(
                .post, "/api/sessions", body: body, headers: [.contentType: "text/plain", .origin: "http://evil.example"]
            )
            #expect(forged.status == .forbidden, "\(forged.text)")
            // The same without Origin (an older browser, a redirect) fails on its content type.
            let plain = try await client.request(.post, "/api/sessions", body: body, headers: [.contentType: "text/plain"])
            #expect(plain.status == .unsupportedMediaType, "\(plain.text)")
            let form = try await client.request(.post, "/api/sessions", body: body, headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(form.status == .unsupportedMediaType)
            // JSON from another origin needs a preflight corral never answers; refused anyway.
            let json = try await client.request(.post, "/api/sessions", body: body, headers: [.origin: "http://evil.example"])
            #expect(json.status == .forbidden)
            let crossSite = try await client.request(.get, "/api/sessions", headers: [HTTPField.Name("Sec-Fetch-Site")!: "cross-site"])
            #expect(crossSite.status == .forbidden)
            #expect(try await client.request(.delete, "/api/sessions/x", headers: [.origin: "null"]).status == .forbidden)
            #expect(try await client.isGone("from-a-page"), "a cross-site request started a session")

            // The dashboard's own requests are same-origin; curl and the CLI send no Origin.
            let sameOrigin = try await client.request(
                .post, "/api/sessions", body: body, headers: [.origin: "http://localhost", HTTPField.Name("Sec-Fetch-Site")!: "same-origin"]
            )
            #expect(sameOrigin.status == .created, "\(sameOrigin.text)")
            #expect(try await client.request(.post, "/api/sessions", body: #"{"agent": "sleeper"}"#, headers: [.contentType: "application/json; charset=utf-8"]).status == .created)
            // curl -XPOST: no body, no content type.
            #expect(try await client.request(.post, "/api/sessions").status == .created)
            #expect(try await client.request(.get, "/api/sessions", headers: [.origin: "http://localhost"]).status == .ok)
        }
    }

    @Test func anonymousCallersOperateButSeeNoSecrets() async throws {
        try await TestCorral(configure: { configuration in
            configuration.agents["secretive"] = AgentProfile(
                command: ["/bin/sh", "-c", "echo DB_PASSWORD=hunter2; sleep 1000", "agent", "--token=abc123"],
                environment: ["CORRAL_TEST_RUN": configuration.agents["sleeper"]!.environment["CORRAL_TEST_RUN"]!, "MY_SECRET": "s3cr3t"]
            )
        }).run { client in
            let session = try await client.start(#"{"agent": "secretive", "session_id": "anon"}"#)
            #expect(try await ProcessProbe.waitUntil { try await client.request(.get, "/api/sessions/anon/logs").text.contains("DB_PASSWORD") })
            let report = try await client.request(.get, "/api/debug/session/anon/processes")
            #expect(report.status == .ok)
            #expect(report.text.contains("--token=[redacted]") && !report.text.contains("abc123"), "\(report.text)")
            #expect(!report.text.contains("s3cr3t") && !report.text.contains("\"env\""), "environments are for admins only: \(report.text)")
            let log = try await client.request(.get, "/api/sessions/anon/logs").text
            #expect(log.contains("DB_PASSWORD=[redacted]") && !log.contains("hunter2"), "\(log)")
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
        }
    }

    @Test func withoutATokenOnlyCorralsOwnHostNamesAreAnswered() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["allowed_hosts": ["corral.lan"]]) { bed in
            let corral = try await bed.startCorral()
            let port = corral.port
            _ = try await corral.start(#"{"agent": "sleeper", "session_id": "rebound"}"#)
            // DNS rebinding: the attacker's name now points at 127.0.0.1; the browser calls it
            // same-origin, but sends the attacker's name.
            for path in ["/api/debug/session/rebound/processes", "/api/sessions/rebound/logs", "/api/sessions", "/", "/metrics"] {
                let reply = try await corral.request(.GET, path, headers: ["Host": "attacker.example:\(port)"])
                #expect(reply.status == 421, "GET \(path) for attacker.example: \(reply.status) \(reply.text.prefix(200))")
                #expect(!reply.text.contains("sleep"))
            }
            let start = try await corral.request(.POST, "/api/sessions", body: "{}", headers: ["Host": "attacker.example"])
            #expect(start.status == 421)
            #expect(start.json["code"] as? String == "misdirected_request", "a client error, not corral's: \(start.text)")
            #expect(try await corral.request(.DELETE, "/api/sessions/rebound", headers: ["Host": "attacker.example"]).status == 421)
            // A loopback name followed by what is not a port is no name of corral's.
            for host in ["127.0.0.1:80@attacker.example", "localhost:attacker.example", "[::1]junk"] {
                #expect(try await corral.request(.GET, "/api/sessions/rebound", headers: ["Host": host]).status == 421, "Host \(host)")
            }
            // Probes answer whatever name they are sent with.
            #expect(try await corral.request(.GET, "/healthz", headers: ["Host": "attacker.example"]).status == 200)
            #expect(try await corral.request(.GET, "/readyz", headers: ["Host": "attacker.example"]).status == 200)
            // corral's own names: loopback, and allowed_hosts.
            for host in ["localhost:\(port)", "127.0.0.1:\(port)", "127.0.0.2", "[::1]:\(port)", "LOCALHOST", "corral.lan:\(port)"] {
                #expect(try await corral.request(.GET, "/api/sessions/rebound", headers: ["Host": host]).status == 200, "Host \(host)")
            }
            #expect(try await corral.request(.DELETE, "/api/sessions/rebound").status == 200)
        }
    }

    /// Issue 26: a page on another site framed the live dashboard, End buttons and all (their
    /// requests are same-origin). Every answer of the real server, the dashboard's, an API's,
    /// errors from the router and from request reception, forbids framing; the dashboard's own
    /// policy keeps its directives with `frame-ancestors 'none'` merged in.
    @Test func noAnswerMayBeFramed() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let corral = try await bed.startCorral()
            let dashboard = try await corral.request(.GET, "/")
            #expect(dashboard.status == 200)
            let policy = dashboard.header("Content-Security-Policy")
            #expect(policy.count == 1 && policy[0].contains("frame-ancestors 'none'") && policy[0].contains("default-src 'self'"), "\(policy)")
            #expect(dashboard.header("X-Frame-Options") == ["DENY"])
            let answers = [
                ("GET /api/sessions", try await corral.request(.GET, "/api/sessions")),
                ("GET /healthz", try await corral.request(.GET, "/healthz")),
                ("GET /openapi.json", try await corral.request(.GET, "/openapi.json")),
                ("404", try await corral.request(.GET, "/no-such-page")),
                ("405", try await corral.request(.PUT, "/api/sessions")),
                ("421", try await corral.request(.GET, "/", headers: ["Host": "attacker.example"])),
                ("403", try await corral.request(.GET, "/api/sessions", headers: ["Origin": "http://evil.example"])),
            ]
            for (what, reply) in answers {
                #expect(reply.header("X-Frame-Options") == ["DENY"], "\(what): \(reply.fields)")
                #expect(reply.header("Content-Security-Policy").contains { $0.contains("frame-ancestors 'none'") }, "\(what): \(reply.fields)")
            }
            // Headers past the limits: answered (431) before any route is known.
            let raw = try RawConnection(port: corral.port)
            raw.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (0..<120).map { "X-Field-\($0): v\r\n" }.joined() + "\r\n")
            let answer = await raw.read(timeout: .seconds(10))
            #expect(answer.hasPrefix("HTTP/1.1 431") && answer.contains("X-Frame-Options: DENY") && answer.contains("frame-ancestors 'none'"), "\(answer)")
        }
    }

    @Test func withATokenHostIsNotChecked() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["api_token": "lb-token"]) { bed in
            let corral = try await bed.startCorral()
            let reply = try await corral.request(.GET, "/api/sessions", headers: ["Host": "corral.behind-a-balancer.example", "Authorization": "Bearer lb-token"])
            #expect(reply.status == 200, "\(reply.text)")
        }
    }

    @Test func hostAndExposureSettingsAreRead() throws {
        let loaded = try ConfigurationLoader.load(
            file: nil, environment: ["CORRAL_ALLOWED_HOSTS": #"["corral.lan", "10.0.0.5"]"#, "CORRAL_ALLOW_UNAUTHENTICATED": "true"]
        )
        #expect(loaded.allowedHosts == ["corral.lan", "10.0.0.5"] && loaded.allowUnauthenticated)
        #expect(try ConfigurationLoader.load(file: nil, environment: ["CORRAL_ALLOW_UNAUTHENTICATED": "yes"]).allowUnauthenticated)
        #expect(throws: CorralError.self) { try ConfigurationLoader.load(file: nil, environment: ["CORRAL_ALLOW_UNAUTHENTICATED": "maybe"]) }
        #expect(throws: CorralError.self) { try ConfigurationLoader.load(file: nil, environment: ["CORRAL_ALLOWED_HOSTS": #"["http://x/"]"#]) }
        do {
            _ = try ConfigurationLoader.load(file: nil, environment: ["CORRAL_ALLOWED_HOSTS": #""corral.lan""#])
            Issue.record("a string instead of an array was accepted")
        } catch {
            #expect(error.description.contains("CORRAL_ALLOWED_HOSTS"), "\(error)")
        }
    }

    @Test func serveRefusesToListenBeyondLoopbackWithoutAToken() async throws {
        let directory = NSTemporaryDirectory() + "corral-exposed-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/corral.json"
        try #"{"listen": "0.0.0.0:0", "data_dir": "\#(directory)/data"}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try await CommandRunner.run(CorralProcess.executable, ["serve", "--config", config], timeout: .seconds(30))
        #expect(refused.status == 2, "\(refused.output)\(refused.errors)")
        #expect(refused.errors.contains("api_token") && refused.errors.contains("allow_unauthenticated"), "\(refused.errors)")
        #expect(!refused.errors.contains("listening on"))

        // The decision itself: a token, loopback, or an explicit choice lets corral serve.
        var configuration = CorralConfiguration()
        configuration.listen = .init(host: "0.0.0.0", port: 8080)
        #expect(ExposureCheck.refusal(configuration) != nil)
        configuration.allowUnauthenticated = true
        #expect(ExposureCheck.refusal(configuration) == nil)
        configuration.allowUnauthenticated = false
        configuration.apiToken = "secret"
        #expect(ExposureCheck.refusal(configuration) == nil)
        configuration.apiToken = nil
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] {
            configuration.listen = .init(host: host, port: 8080)
            #expect(ExposureCheck.refusal(configuration) == nil, "\(host)")
        }
    }
}
