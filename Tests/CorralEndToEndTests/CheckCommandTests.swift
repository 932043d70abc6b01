import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `corral check`, the command: the built binary run on configurations written here, its exit
/// status (0 valid, 1 errors or warnings with --strict, 2 refused as serve refuses) and the
/// lines that name the key. The shipped configurations are checked by ExampleConfigurationTests.
@Suite("corral check: the command")
struct CheckCommandTests {
    /// A directory of the test's own, removed afterwards.
    struct Scratch {
        let path = NSTemporaryDirectory() + "corral-check-cli-" + UUID().uuidString

        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }

        func remove() { try? FileManager.default.removeItem(atPath: path) }

        func write(_ text: String, to name: String, executable: Bool = false) throws -> String {
            let file = path + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            if executable { chmod(file, 0o755) }
            return file
        }

        /// `corral serve --config FILE` on `json`, run in this directory: for configurations it
        /// refuses or fails at before it listens.
        func serve(_ json: String, environment: [String: String] = [:]) async throws -> CommandRunner.Result {
            let file = try write(json, to: "corral-\(UUID().uuidString).json")
            return try await CommandRunner.run(
                CorralProcess.executable, ["serve", "--config", file], environment: environment, workingDirectory: path, timeout: .seconds(60)
            )
        }

        /// `corral check --config FILE ARGUMENTS` on `json`, run in this directory.
        func check(_ json: String, _ arguments: [String] = [], environment: [String: String] = [:]) async throws -> CommandRunner.Result {
            let file = try write(json, to: "corral-\(UUID().uuidString).json")
            return try await CommandRunner.run(
                CorralProcess.executable, ["check", "--config", file] + arguments, environment: environment, workingDirectory: path
            )
        }
    }

    @Test(arguments: [
        (#"{"nope": true}"#, "error: nope: unknown configuration key"),
        (#"{"max_sessions": "many"}"#, "error: max_sessions: expected a number, got a string"),
        (#"{"agents": {"a": {"command": ["/bin/true"]}}, "default_agent": "b"}"#, "error: default_agent: 'b' is not one of the agent profiles (a)"),
        (#"{"agents": {"a": {"command": ["/bin/true"], "livekit": true}}}"#, "error: agents.a.livekit: a LiveKit agent needs the livekit configuration"),
        (#"{"listen": "0.0.0.0:8080", "agents": {"a": {"command": ["/bin/true"]}}}"#, "error: listen: listen 0.0.0.0:8080 is not a loopback address"),
        ("[]", " is not a JSON object"),
    ])
    func aBrokenConfigurationIsRefusedWith2NamingTheKey(_ json: String, line: String) async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        for arguments in [[], ["--strict"]] {
            let result = try await scratch.check(json, arguments)
            #expect(result.status == 2, "\(arguments) \(result.output) \(result.errors)")
            #expect(result.output.contains(line), "\(result.output)")
            #expect(result.output.hasSuffix("refused: corral serve would not start with this configuration\n"), "\(result.output)")
        }
        let result = try await scratch.check(json, ["--json"])
        #expect(result.status == 2)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        #expect((object["errors"] as? [Any])?.count == 1, "\(object)")
    }

    @Test func aFileThatIsNotThereIsRefusedWith2() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let result = try await CommandRunner.run(
            CorralProcess.executable, ["check", "--config", "/nonexistent/corral-check.json"], workingDirectory: scratch.path
        )
        #expect(result.status == 2)
        #expect(result.output.contains("error: cannot read configuration file /nonexistent/corral-check.json"), "\(result.output)")
        // CORRAL_CONFIG names the file where --config does not.
        let fromEnvironment = try await CommandRunner.run(
            CorralProcess.executable, ["check"], environment: ["CORRAL_CONFIG": "/nonexistent/corral-check.json"], workingDirectory: scratch.path
        )
        #expect(fromEnvironment.status == 2)
        #expect(fromEnvironment.output.contains("corral check: /nonexistent/corral-check.json"), "\(fromEnvironment.output)")
    }

    /// What this host lacks: warnings (exit 0), errors with --strict (exit 1).
    @Test(arguments: [
        (#"{"agents": {"a": {"command": ["corral-no-such-agent", "--x"]}}}"#, "agents.a.command: program 'corral-no-such-agent' is not in PATH"),
        (#"{"agents": {"a": {"command": ["/usr/bin/env", "corral-no-such-agent"]}}}"#, "agents.a.command: /usr/bin/env runs 'corral-no-such-agent', which is not in PATH"),
        (#"{"agents": {"a": {"command": ["/bin/true"], "cwd": "/nonexistent/agent"}}}"#, "agents.a.cwd: /nonexistent/agent does not exist"),
        (
            #"{"tls_cert_file": "/nonexistent/cert.pem", "tls_key_file": "/dev/null", "agents": {"a": {"command": ["/bin/true"]}}}"#,
            "tls_cert_file: cannot read /nonexistent/cert.pem"
        ),
        (#"{"api_token_file": "/nonexistent/token", "agents": {"a": {"command": ["/bin/true"]}}}"#, "api_token_file: cannot read /nonexistent/token"),
        (#"{"data_dir": "/nonexistent/corral", "agents": {"a": {"command": ["/bin/true"]}}}"#, "data_dir: /nonexistent/corral does not exist and cannot be created"),
        (
            #"{"containment": "cgroup", "cgroup_root": "/nonexistent/corral", "agents": {"a": {"command": ["/bin/true"]}}}"#,
            "containment: cgroup is not available on this host"
        ),
    ])
    func whatThisHostLacksIsAWarningAndAnErrorWhenStrict(_ json: String, finding: String) async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let lenient = try await scratch.check(json)
        #expect(lenient.status == 0, "\(lenient.output) \(lenient.errors)")
        #expect(lenient.output.contains("warning: " + finding), "\(lenient.output)")
        #expect(lenient.output.contains("ok: the configuration is valid; 1 warning about this host"), "\(lenient.output)")

        let strict = try await scratch.check(json, ["--strict"])
        #expect(strict.status == 1, "\(strict.output) \(strict.errors)")
        #expect(strict.output.contains("error: " + finding), "\(strict.output)")
        #expect(!strict.output.contains("warning: "), "\(strict.output)")

        let json = try await scratch.check(json, ["--strict", "--json"])
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.output)")
        let errors = try #require(object["errors"] as? [[String: String]])
        #expect(errors.count == 1 && finding.hasPrefix(errors[0]["key"]! + ": "), "\(errors)")
        #expect((object["warnings"] as? [Any])?.isEmpty == true)
    }

    /// What serve fails at after loading (exit 1 there too): a LiveKit URL a worker cannot
    /// connect to. An error, strict or not.
    @Test func whatServeWouldFailAtIsAnError() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let json = #"{"livekit": {"url": "wss://", "api_key": "k", "api_secret": "s"}, "agents": {"a": {"command": ["/bin/true"], "livekit_worker": {}}}}"#
        for arguments in [[], ["--strict"]] {
            let result = try await scratch.check(json, arguments)
            #expect(result.status == 1, "\(result.output)")
            #expect(result.output.contains("error: agents.a.livekit_worker: livekit.url cannot be used: LiveKit URL \"wss://\" names no host"), "\(result.output)")
            #expect(result.output.hasSuffix("not ok: 1 error\n"), "\(result.output)")
        }
    }

    /// TLS files that are there but that serve could not set up TLS with.
    @Test func tlsFilesThatAreNotPEMAreAWarning() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let certificate = try scratch.write("not a certificate\n", to: "cert.pem")
        let key = try scratch.write("not a key\n", to: "key.pem")
        let json = #"{"tls_cert_file": "\#(certificate)", "tls_key_file": "\#(key)", "agents": {"a": {"command": ["/bin/true"]}}}"#
        let result = try await scratch.check(json)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("warning: tls_cert_file: cannot set up TLS with \(certificate) and \(key)"), "\(result.output)")
        #expect(try await scratch.check(json, ["--strict"]).status == 1)
    }

    /// Issue 26: the unit runs `corral check` as `ExecStartPre=`, so what it prints lands in the
    /// journal. An agent's `--api-key …`, a webhook URL's `?token=`, a Redis password quoted by an
    /// error: all redacted as the API redacts them for non-admins, in the text and in `--json`,
    /// and in the errors `corral serve` prints at start-up.
    @Test func secretsInCommandsURLsAndErrorsAreRedacted() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let planned = """
            {"events_webhook_url": "https://hooks.example/corral?token=hook-SECRET-1",
             "agents": {"a": {"command": ["/bin/true", "--api-key", "key-SECRET-2", "--db-password=pw-SECRET-3",
                                          "export OPENAI_API_KEY=sk-SECRET-4"]}}}
            """
        for arguments in [[], ["--json"]] {
            let result = try await scratch.check(planned, arguments)
            #expect(result.status == 0, "\(result.output) \(result.errors)")
            #expect(!result.output.contains("SECRET"), "\(result.output)")
            #expect(result.output.contains("--api-key") && result.output.contains("?token=[redacted]"), "\(result.output)")
        }

        // Errors quote the value they refuse; the key they name stays.
        let agents = #"{"containment": "process-group", "agents": {"a": {"command": ["/bin/true"]}}}"#
        for store in ["redis://:redis-SECRET-5@/0", "redis:/:redis-SECRET-6@db.internal:6379", "redis://redis-SECRET-7@"] {
            for arguments in [[], ["--json"]] {
                let result = try await scratch.check(agents, arguments, environment: ["CORRAL_STORE": store])
                #expect(result.status == 2, "\(store): \(result.output)")
                #expect(result.output.contains("CORRAL_STORE") && !result.output.contains("SECRET"), "\(store): \(result.output)")
            }
            let served = try await scratch.serve(agents, environment: ["CORRAL_STORE": store])
            #expect(served.status == 2, "\(store): \(served.errors)")
            #expect(served.errors.contains("CORRAL_STORE") && !served.errors.contains("SECRET"), "\(store): \(served.errors)")
        }
        // What serve fails at after loading: a LiveKit URL a worker cannot use.
        let livekit = """
            {"containment": "process-group", "livekit": {"url": "wss://?access_token=lk-SECRET-8", "api_key": "k", "api_secret": "s"},
             "agents": {"a": {"command": ["/bin/true"], "livekit_worker": {}}}}
            """
        let checked = try await scratch.check(livekit)
        #expect(checked.status == 1 && checked.output.contains("agents.a.livekit_worker: "), "\(checked.output)")
        #expect(!checked.output.contains("SECRET"), "\(checked.output)")
        let served = try await scratch.serve(livekit)
        #expect(served.status == 1 && served.errors.contains("livekit"), "\(served.errors)")
        #expect(!served.errors.contains("SECRET"), "\(served.errors)")
    }

    /// What stops serve at start-up names the key to change: a port another program holds (it
    /// failed after the supervisor had started, with NIO's bind error), a data directory that
    /// cannot be made, an SQLite file whose directory is missing.
    @Test func startUpFailuresNameTheirKey() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let holder = try TrapListener()
        let agents = #""agents": {"a": {"command": ["/bin/true"]}}, "containment": "process-group""#
        let taken = try await scratch.serve(#"{"listen": "127.0.0.1:\#(holder.port)", \#(agents)}"#)
        #expect(taken.status == 1, "\(taken.errors)")
        #expect(taken.errors.contains("corral: listen: cannot listen on 127.0.0.1:\(holder.port): another program (another corral?) listens there"), "\(taken.errors)")
        #expect(!taken.errors.contains("supervisor ready"), "refused before anything started: \(taken.errors)")
        withExtendedLifetime(holder) {}

        let noParent = try await scratch.serve(#"{"listen": "127.0.0.1:0", "data_dir": "no-such-parent/data", \#(agents)}"#)
        #expect(noParent.status == 1 && noParent.errors.contains("data_dir: cannot create the data directory"), "\(noParent.errors)")
        let noStoreDirectory = try await scratch.serve(#"{"listen": "127.0.0.1:0", "store": "sqlite:/no-such-directory/corral.db", \#(agents)}"#)
        #expect(noStoreDirectory.status == 1 && noStoreDirectory.errors.contains("store: cannot open the SQLite store"), "\(noStoreDirectory.errors)")
        #expect(noStoreDirectory.errors.contains("its directory must exist"), "\(noStoreDirectory.errors)")
        // Not a database: said so, without the advice about its directory, which was no help.
        let notADatabase = try scratch.write(String(repeating: "not sqlite\n", count: 500), to: "notes.txt")
        let damaged = try await scratch.serve(#"{"listen": "127.0.0.1:0", "store": "sqlite:\#(notADatabase)", \#(agents)}"#)
        #expect(damaged.status == 1 && damaged.errors.contains("is not an SQLite database, or is damaged (SQLite error 26"), "\(damaged.errors)")
        #expect(!damaged.errors.contains("its directory must exist"), "\(damaged.errors)")
    }

    /// A `CORRAL_` variable one typo away from a key's is said to be one (corral ran on the
    /// default without a word); other `CORRAL_` names (the CLI's, agents', tools') are not.
    @Test func aMisspelledVariableIsAWarning() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let json = #"{"agents": {"a": {"command": ["/bin/true"]}}}"#
        let result = try await scratch.check(json, environment: ["CORRAL_GRACE_SECOND": "5", "CORRAL_TEST_RUN": "x", "CORRAL_URL": "http://h:1"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("warning: CORRAL_GRACE_SECOND: corral reads no such variable; did you mean CORRAL_GRACE_SECONDS?"), "\(result.output)")
        #expect(!result.output.contains("CORRAL_TEST_RUN") && !result.output.contains("warning: CORRAL_URL"), "\(result.output)")
        let served = try await scratch.serve(
            #"{"listen": "127.0.0.1:0", "data_dir": "no-such-parent/data", "agents": {"a": {"command": ["/bin/true"]}}}"#,
            environment: ["CORRAL_GRACE_SECOND": "5"]
        )
        #expect(served.errors.contains("CORRAL_GRACE_SECOND is set, but corral reads no such variable; did you mean CORRAL_GRACE_SECONDS?"), "\(served.errors)")
    }

    /// The embedded defaults name the demo agent's script, which serve writes into the data
    /// directory at start-up: the check does not call it missing (`--strict` refused the
    /// defaults in a fresh directory).
    @Test func theDemoAgentsScriptIsNotMissing() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let result = try await scratch.check("{}", ["--strict"])
        #expect(!result.output.contains("agents.demo.command:"), "\(result.output)")
        #expect(!result.output.contains("which does not exist"), "\(result.output)")
    }

    /// Redaction masks the word after a secret's name and a colon; the errors that name keys with
    /// such names must still read whole (`known keys: listen` printed `[redacted]` for `listen`,
    /// `tls_key_file: set both` `[redacted] both`). An unknown key is answered with the declared
    /// one it most likely misspells.
    @Test func errorsThatNameKeysReadWholeThroughRedaction() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let misspelled = try await scratch.check(#"{"grace_second": 1, "agents": {"a": {"command": ["/bin/true"]}}}"#)
        #expect(misspelled.status == 2, "\(misspelled.output)")
        #expect(misspelled.output.contains("grace_second: unknown configuration key; did you mean grace_seconds? (known: listen, store,"), "\(misspelled.output)")
        #expect(!misspelled.output.contains("[redacted]"), "\(misspelled.output)")
        let nested = try await scratch.check(#"{"agents": {"a": {"command": ["/bin/true"], "memory_limit": 5}}}"#)
        #expect(nested.output.contains("agents.a.memory_limit: unknown key; did you mean memory_limit_mb?"), "\(nested.output)")
        let certificate = try scratch.write("not a certificate\n", to: "cert.pem")
        let halfTLS = try await scratch.check(#"{"tls_cert_file": "\#(certificate)", "agents": {"a": {"command": ["/bin/true"]}}}"#)
        #expect(halfTLS.status == 2, "\(halfTLS.output)")
        #expect(halfTLS.output.contains("tls_key_file: required with tls_cert_file (set both, or neither)"), "\(halfTLS.output)")
        let served = try await scratch.serve(#"{"tls_cert_file": "\#(certificate)", "agents": {"a": {"command": ["/bin/true"]}}}"#)
        #expect(served.status == 2 && served.errors.contains("required with tls_cert_file (set both"), "\(served.errors)")
    }

    /// The check starts nothing and writes nothing: run in an empty directory with a relative
    /// data directory, an SQLite store, prewarmed agents whose program would leave a mark, and a
    /// cgroup root of its own where the host has cgroups, it leaves the directory empty, the
    /// cgroup root unmade, the mark unmade, and no process carrying its environment.
    @Test func checkStartsNothing() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let workingDirectory = scratch.path + "/run"
        try FileManager.default.createDirectory(atPath: workingDirectory, withIntermediateDirectories: true)
        let mark = scratch.path + "/agent-ran"
        let agent = try scratch.write("#!/bin/sh\ntouch '\(mark)'\nexec sleep 60\n", to: "agent.sh", executable: true)
        let root = CgroupSupport.available ? CgroupSupport.newTestPath() : nil
        defer { if let root { CgroupSupport.removeTree(root) } }
        let config = try scratch.write(
            """
            {"listen": "127.0.0.1:0", "data_dir": "state", "store": "sqlite:corral.db", "max_sessions": 4,
             \(root.map { "\"cgroup_root\": \"\($0)\"," } ?? "")
             "agents": {"a": {"command": ["\(agent)"], "ready": "notify", "prewarm": 2}}}
            """,
            to: "corral.json"
        )
        let tag = UUID().uuidString
        let result = try await CommandRunner.run(
            CorralProcess.executable, ["check", "--config", config, "--strict"], environment: ["CHECK_TEST_TAG": tag],
            workingDirectory: workingDirectory
        )
        #expect(result.status == 0, "\(result.output) \(result.errors)")
        #expect(result.output.contains("data_dir     \(workingDirectory)/state"), "\(result.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: workingDirectory).isEmpty, "corral check wrote in its working directory")
        #expect(!FileManager.default.fileExists(atPath: mark), "an agent ran")
        if let root { #expect(CgroupSupport.leftovers(ofRoot: root).isEmpty, "a cgroup root was made") }
        let tagged = ProcFS.allPIDs().filter { ProcFS.environmentValue($0, "CHECK_TEST_TAG") == tag }
        #expect(tagged.isEmpty, "processes left by corral check: \(tagged)")
    }
}
