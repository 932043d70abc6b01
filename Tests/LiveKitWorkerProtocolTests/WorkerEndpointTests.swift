import Foundation
import LiveKitWorkerProtocol
import Testing

@Suite("LiveKit worker endpoint")
struct WorkerEndpointTests {
    @Test(arguments: [
        ("ws://127.0.0.1:7880", "ws://127.0.0.1:7880/agent", false),
        ("http://127.0.0.1:7880/", "ws://127.0.0.1:7880/agent", false),
        ("https://example.livekit.cloud", "wss://example.livekit.cloud/agent", true),
        ("wss://host.example/prefix/", "wss://host.example/prefix/agent", true),
        ("WSS://host.example/a/b?x=1#f", "wss://host.example/a/b/agent", true),
        ("ws://[::1]:7880", "ws://[::1]:7880/agent", false),
    ])
    func agentURLKeepsThePathPrefix(url: String, expected: String, secure: Bool) throws {
        let endpoint = try WorkerEndpoint(livekitURL: url)
        #expect(endpoint.url == expected)
        #expect(endpoint.secure == secure)
    }

    @Test(arguments: [
        ("ws://127.0.0.1:7880", "127.0.0.1", 7880, "/agent"),
        ("https://example.livekit.cloud", "example.livekit.cloud", 443, "/agent"),
        ("http://example.livekit.cloud/", "example.livekit.cloud", 80, "/agent"),
        ("wss://host.example/prefix/", "host.example", 443, "/prefix/agent"),
        ("ws://[::1]:7880/a", "::1", 7880, "/a/agent"),
    ])
    func whereTheSocketConnects(url: String, host: String, port: Int, path: String) throws {
        let endpoint = try WorkerEndpoint(livekitURL: url)
        #expect(endpoint.host == host)
        #expect(endpoint.port == port)
        #expect(endpoint.path == path)
    }

    @Test func aURLThatCannotBeAWorkersIsRefusedWithItsProblem() {
        #expect(throws: WorkerEndpoint.Failure.unsupportedScheme("ftp://host")) { try WorkerEndpoint(livekitURL: "ftp://host") }
        #expect(throws: WorkerEndpoint.Failure.unsupportedScheme("host:7880")) { try WorkerEndpoint(livekitURL: "host:7880") }
        #expect(throws: WorkerEndpoint.Failure.noHost("wss:///agent")) { try WorkerEndpoint(livekitURL: "wss:///agent") }
    }
}

@Suite("Reconnect backoff")
struct ReconnectBackoffTests {
    @Test func delaysDoubleFromHalfASecondUpToThirtyWithJitterTakenOff() {
        let backoff = ReconnectBackoff()
        #expect(backoff.delay(afterFailures: 1, random: 0) == .milliseconds(500))
        #expect(backoff.delay(afterFailures: 2, random: 0) == .seconds(1))
        #expect(backoff.delay(afterFailures: 3, random: 0) == .seconds(2))
        #expect(backoff.delay(afterFailures: 7, random: 0) == .seconds(30))
        #expect(backoff.delay(afterFailures: 100, random: 0) == .seconds(30))
        #expect(backoff.delay(afterFailures: 1, random: 0.999) > .milliseconds(250))
        #expect(backoff.delay(afterFailures: 100, random: 0.999) >= .seconds(15))
        let delays = (0..<50).map { _ in backoff.delay(afterFailures: 100) }
        #expect(delays.allSatisfy { $0 >= .seconds(15) && $0 <= .seconds(30) })
        #expect(Set(delays).count > 1)
    }
}

@Suite("LiveKit worker configuration")
struct WorkerConnectionConfigurationTests {
    @Test func theRegistrationCarriesWhatTheWorkerIsFor() throws {
        let permissions = Livekit_ParticipantPermission.with { $0.canPublish = true; $0.hidden = true }
        let configuration = try WorkerConnectionConfiguration(
            livekitURL: "https://lk.example/base", apiKey: "key", apiSecret: "secret", agentName: "support-bot",
            jobType: .jtPublisher, version: "corral 1.0", namespace: "blue", permissions: permissions
        )
        #expect(configuration.endpoint.url == "wss://lk.example/base/agent")
        #expect(configuration.registration.agentName == "support-bot")
        #expect(configuration.registration.type == .jtPublisher)
        #expect(configuration.registration.version == "corral 1.0")
        #expect(configuration.registration.hasNamespace && configuration.registration.namespace == "blue")
        #expect(configuration.registration.allowedPermissions == permissions)
        let plain = try WorkerConnectionConfiguration(livekitURL: "ws://h", apiKey: "k", apiSecret: "s", agentName: "a")
        #expect(!plain.registration.hasNamespace)
        #expect(!plain.registration.hasAllowedPermissions)
    }

    @Test func aWorkersTokenIsIssuedByTheKeyWithTheAgentGrant() throws {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let token = WorkerToken.make(apiKey: "APIkey", apiSecret: "secret", now: now)
        let claims = try JWT.verify(token, secret: "secret", issuer: "APIkey", now: now)
        #expect((claims["video"] as? [String: Any])?["agent"] as? Bool == true)
        #expect(claims["exp"] as? Int == 1_700_000_600)
        #expect(throws: JWT.Failure.self) { try JWT.verify(token, secret: "other", issuer: "APIkey", now: now) }
    }
}
