import CorralTestSupport
import Foundation
import Testing

/// `clients/python/corral_client.py` against the real corral binary: its own tests
/// (`clients/python/test_corral_client.py`, every method, sync and async). The Python is the
/// system's python3, standard library only.
@Suite("Python client", .serialized)
struct PythonClientTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let clientTests = repository + "/clients/python/test_corral_client.py"
    static let token = "python-client-test-token"
    // A busy two-core machine runs the whole suite beside these.
    static let scriptTimeout = Duration.seconds(600)

    /// Runs `body` with a corral that has an admin token, `store`, and besides the bed's agents
    /// `chatty`, which prints `line N` ten times a second until ended.
    func withCorral(store: String? = nil, _ body: (CrashTestBed, CorralProcess) async throws -> Void) async throws {
        var extra: [String: Any] = ["api_token": Self.token]
        if let store { extra["store"] = store }
        try await CrashTestBed.run(containment: .processGroup, extra: extra) { bed in
            var agents = bed.config["agents"] as? [String: Any] ?? [:]
            agents["chatty"] = [
                "command": ["/bin/sh", "-c", "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.1; done"],
                "env": ["CORRAL_TEST_RUN": bed.tag],
            ]
            bed.config["agents"] = agents
            let corral = try await bed.startCorral()
            try await body(bed, corral)
            #expect(try await corral.sessions().isEmpty, "every session started from Python was ended")
        }
    }

    func environment(_ corral: CorralProcess, token: String = Self.token) -> [String: String] {
        ["CORRAL_URL": "http://127.0.0.1:\(corral.port)", "CORRAL_TOKEN": token, "PYTHONDONTWRITEBYTECODE": "1"]
    }

    func run(_ script: String, _ arguments: [String], environment: [String: String]) async throws -> CommandRunner.Result {
        try await CommandRunner.run(script, arguments, environment: environment, timeout: Self.scriptTimeout)
    }

    @Test func clientTestsPassAgainstALiveCorral() async throws {
        try await withCorral { _, corral in
            var environment = environment(corral)
            environment["CORRAL_TEST_AGENT"] = "sleeper"
            environment["CORRAL_TEST_CHATTY_AGENT"] = "chatty"
            let result = try await run("/usr/bin/python3", [Self.clientTests], environment: environment)
            #expect(result.status == 0, "\(result.output)\n\(result.errors)")
            // unittest reports on stderr; none of the tests may have been skipped for want of a corral.
            #expect(result.errors.contains("\nOK\n") && !result.errors.contains("skipped"), "\(result.errors)")
        }
    }
}
