import CorralTestSupport
import Foundation
import Testing

/// `clients/python/corral_client.py` against the real corral binary: its own tests
/// (`clients/python/test_corral_client.py`, every method, sync and async), and the two deployment
/// checks built on it (`scripts/test-termination.sh`, `scripts/test_concurrent_sessions.py`) with
/// each store, passing, and failing when corral refuses. The Python is the system's python3,
/// standard library only.
@Suite("Python client and deployment checks", .serialized)
struct PythonClientTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let clientTests = repository + "/clients/python/test_corral_client.py"
    static let terminationCheck = repository + "/scripts/test-termination.sh"
    static let concurrencyCheck = repository + "/scripts/test_concurrent_sessions.py"
    static let token = "python-client-test-token"
    // A busy two-core machine runs the whole suite beside these.
    static let scriptTimeout = Duration.seconds(600)

    /// Runs `body` with a corral that has an admin token, `store`, and besides the bed's agents
    /// `chatty`, which prints `line N` ten times a second until ended, and `warm`, one of which
    /// is kept prewarmed (a session handed to it carries its idle id in its environment).
    func withCorral(store: String? = nil, _ body: (CrashTestBed, CorralProcess) async throws -> Void) async throws {
        var extra: [String: Any] = ["api_token": Self.token]
        if let store { extra["store"] = store }
        try await CrashTestBed.run(containment: .processGroup, extra: extra) { bed in
            var agents = bed.config["agents"] as? [String: Any] ?? [:]
            agents["chatty"] = [
                "command": ["/bin/sh", "-c", "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.1; done"],
                "env": ["CORRAL_TEST_RUN": bed.tag],
            ]
            agents["warm"] = [
                "command": ["/usr/bin/python3", PrewarmTests.script], "ready": "notify", "prewarm": 1,
                "env": ["CORRAL_TEST_RUN": bed.tag, "PREWARM_LOAD_SECONDS": "0.2"],
            ]
            bed.config["agents"] = agents
            let corral = try await bed.startCorral()
            try await body(bed, corral)
            #expect(try await corral.sessions().isEmpty, "every session started from Python was ended")
        }
    }

    /// A store as corral's `store` key says it: SQLite relative to the data directory, or a
    /// redis-server of the test's own with a password and a database other than 0 (so the
    /// termination check's AUTH and SELECT are exercised).
    func withStoreKey(_ kind: StoreKind, _ body: (String) async throws -> Void) async throws {
        switch kind {
        case .sqlite:
            try await body("sqlite:corral.db")
        case .redis:
            try await RedisServer.with(password: "redis-test-secret") { (server: RedisServer) async throws in try await body(server.url + "/3") }
        }
    }

    func environment(_ corral: CorralProcess, token: String = Self.token) -> [String: String] {
        ["CORRAL_URL": "http://127.0.0.1:\(corral.port)", "CORRAL_TOKEN": token, "PYTHONDONTWRITEBYTECODE": "1"]
    }

    func run(_ script: String, _ arguments: [String], environment: [String: String]) async throws -> CommandRunner.Result {
        try await CommandRunner.run(script, arguments, environment: environment, timeout: Self.scriptTimeout)
    }

    /// Exit 0, at least `passes` lines of `[PASS]`, no `[FAIL]` (and no `[SKIP]` unless allowed).
    func expectPassed(
        _ result: CommandRunner.Result, passes: Int, skipsAllowed: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let lines = result.output.split(separator: "\n")
        let transcript = "\(result.output)\n\(result.errors)"
        #expect(result.status == 0, "\(transcript)", sourceLocation: sourceLocation)
        #expect(lines.filter { $0.hasPrefix("[PASS] ") }.count >= passes, "\(transcript)", sourceLocation: sourceLocation)
        #expect(!lines.contains { $0.hasPrefix("[FAIL]") }, "\(transcript)", sourceLocation: sourceLocation)
        if !skipsAllowed { #expect(!lines.contains { $0.hasPrefix("[SKIP]") }, "\(transcript)", sourceLocation: sourceLocation) }
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

    @Test(arguments: testedStores) func deploymentChecksPass(store: StoreKind) async throws {
        try await withStoreKey(store) { key in
            try await withCorral(store: key) { bed, corral in
                var environment = environment(corral)
                var arguments = ["--agent", "cooperative"]
                // Both ways of naming the store: SQLite's relative path with --data-dir, as in
                // corral's configuration; Redis through CORRAL_STORE.
                switch store {
                case .sqlite: arguments += ["--store", key, "--data-dir", bed.dataDirectory]
                case .redis: environment["CORRAL_STORE"] = key
                }
                let termination = try await run(Self.terminationCheck, arguments, environment: environment)
                expectPassed(termination, passes: 8)
                #expect(termination.output.contains("[PASS] the stored record is gone"), "\(termination.output)")

                let concurrency = try await run(Self.concurrencyCheck, ["--agent", "cooperative"], environment: environment)
                // Started; pids, groups, leaders, logs; five ends; four checks of the others; nothing left.
                expectPassed(concurrency, passes: 15)

                // A session handed to a prewarmed agent (the installed configuration's kind).
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) { (try? await corral.request(.GET, "/api/prewarm", headers: ["Authorization": "Bearer \(Self.token)"]))?.text.contains("\"ready\"") == true })
                let warm = try await run(Self.terminationCheck, ["--agent", "warm"], environment: environment)
                expectPassed(warm, passes: 7, skipsAllowed: true)
                #expect(warm.output.contains("agent warm, warm start"), "\(warm.output)")
            }
        }
    }

    @Test func checksFailWhenCorralRefusesOrTheStoreCannotBeRead() async throws {
        try await withCorral { bed, corral in
            let wrongToken = try await run(Self.terminationCheck, [], environment: environment(corral, token: "not-the-token"))
            #expect(wrongToken.status == 1, "\(wrongToken.output)\n\(wrongToken.errors)")
            #expect(wrongToken.output.contains("[FAIL] the session starts: 401 missing or invalid bearer token"), "\(wrongToken.output)")

            let unknownAgent = try await run(Self.terminationCheck, ["--agent", "no-such-agent"], environment: environment(corral))
            #expect(unknownAgent.status == 1)
            #expect(unknownAgent.output.contains("[FAIL] the session starts: 404 unknown agent 'no-such-agent'"), "\(unknownAgent.output)")

            // The session runs and ends as it should; only the record check fails, and the rest
            // is still checked.
            let missingDatabase = bed.directory + "/no-such.db"
            let unreadable = try await run(
                Self.terminationCheck, ["--agent", "cooperative", "--store", "sqlite:" + missingDatabase], environment: environment(corral)
            )
            let lines = unreadable.output.split(separator: "\n")
            #expect(unreadable.status == 1)
            #expect(lines.filter { $0.hasPrefix("[FAIL]") }.count == 1, "\(unreadable.output)")
            #expect(unreadable.output.contains("[FAIL] the stored record is gone: cannot read \(missingDatabase)"), "\(unreadable.output)")
            #expect(unreadable.output.contains("[PASS] no process of the session is left"), "\(unreadable.output)")

            let concurrency = try await run(Self.concurrencyCheck, ["--agent", "no-such-agent", "--count", "2"], environment: environment(corral))
            #expect(concurrency.status == 1)
            #expect(concurrency.output.contains("[FAIL] 2 sessions start at once"), "\(concurrency.output)")
        }
    }

    @Test func checksExplainThemselves() async throws {
        for script in [Self.terminationCheck, Self.concurrencyCheck] {
            let help = try await run(script, ["--help"], environment: ["PYTHONDONTWRITEBYTECODE": "1"])
            #expect(help.status == 0, "\(help.errors)")
            #expect(help.output.contains("--agent") && help.output.contains("CORRAL_TOKEN"), "\(help.output)")
            let wrong = try await run(script, ["--no-such-option"], environment: ["PYTHONDONTWRITEBYTECODE": "1"])
            #expect(wrong.status == 2, "a usage error: \(wrong.errors)")
        }
    }
}
