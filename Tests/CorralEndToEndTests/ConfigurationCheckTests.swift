@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

@testable import CorralCore
@testable import CorralReports
@testable import CorralConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// `corral check`'s decisions: what the loader refuses is refused (as serve refuses it), what this
/// host lacks is a warning (an error when strict), what corral would do is planned, and nothing is
/// made while at it. Each test works in a directory of its own: its configuration, programs and
/// files are real, and the directory is removed afterwards.
@Suite("corral check: the decisions")
struct ConfigurationCheckTests {
    /// A temporary directory with a `bin/` of programs, the `PATH` of every check here.
    struct Scratch {
        let path: String
        var bin: String { path + "/bin" }
        var environment: [String: String] { ["PATH": bin] }

        init() throws {
            path = NSTemporaryDirectory() + "corral-check-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: path + "/bin", withIntermediateDirectories: true)
        }

        func remove() { try? FileManager.default.removeItem(atPath: path) }

        /// An executable script at `path`/`name`.
        @discardableResult
        func program(_ name: String, in directory: String? = nil) throws -> String {
            let file = (directory ?? bin) + "/" + name
            try write("#!/bin/sh\nexit 0\n", to: file)
            chmod(file, 0o755)
            return file
        }

        func write(_ text: String, to file: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        }

        func check(_ json: String, environment: [String: String] = [:], strict: Bool = false) throws -> ConfigurationCheck {
            let file = path + "/corral.json"
            try write(json, to: file)
            return ConfigurationCheck(
                file: file, environment: self.environment.merging(environment) { $1 }, workingDirectory: path, strict: strict
            )
        }
    }

    static func keys(_ findings: [ConfigurationFinding]) -> [String] { findings.compactMap(\.key) }

    // MARK: - What serve refuses is refused

    @Test(arguments: [
        (#"{"listen": "127.0.0.1:8080", "nope": 1}"#, "nope", "unknown configuration key"),
        (#"{"grace_seconds": "five"}"#, "grace_seconds", "expected a number"),
        (#"{"agents": {"a": {"command": "a"}}}"#, "agents.a.command", "expected a non-empty array of strings"),
        (#"{"agents": {"a": {"command": ["a"], "colour": "red"}}}"#, "agents.a.colour", "unknown key"),
        (#"{"agents": {"a": {"command": ["a"]}, "b": {"command": ["b"]}}, "default_agent": "c"}"#, "default_agent", "'c' is not one of the agent profiles (a, b)"),
        (
            #"{"agents": {"a": {"command": ["a"]}}, "livekit": {"url": "wss://lk.invalid", "api_key": "k", "api_secret": "s", "auto_dispatch_agent": "b"}}"#,
            "livekit.auto_dispatch_agent", "'b' is not one of the agent profiles"
        ),
        (#"{"session_timeout_seconds": 100, "max_session_timeout_seconds": 10}"#, "session_timeout_seconds", "is above max_session_timeout_seconds"),
    ])
    func whatTheLoaderRefusesIsRefusedNamingTheKey(_ json: String, key: String, message: String) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let check = try scratch.check(json)
        #expect(check.exitStatus == 2)
        #expect(check.refused)
        #expect(check.plan == nil && check.configuration == nil)
        #expect(Self.keys(check.errors) == [key], "\(check.errors)")
        #expect(check.errors.first?.message.contains(message) == true, "\(check.errors)")
        #expect(check.text.contains("error: \(key): "), "\(check.text)")
        #expect(check.text.hasSuffix("refused: corral serve would not start with this configuration"))
    }

    /// The environment's `CORRAL_<KEY>` is over the file, as serve sees it, and a message names
    /// the variable.
    @Test func environmentOverridesApplyAsInServe() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let json = #"{"agents": {"a": {"command": ["a"]}}}"#
        let refused = try scratch.check(json, environment: ["CORRAL_DEFAULT_AGENT": "missing"])
        #expect(refused.exitStatus == 2)
        #expect(Self.keys(refused.errors) == ["CORRAL_DEFAULT_AGENT"], "\(refused.errors)")

        let overridden = try scratch.check(json, environment: ["CORRAL_LISTEN": "127.0.0.1:9999", "CORRAL_STORE": "memory"])
        #expect(overridden.exitStatus == 0, "\(overridden.text)")
        #expect(overridden.plan?.listen == "127.0.0.1:9999")
        #expect(overridden.plan?.store.kind == "memory")
    }

    @Test func aFileThatCannotBeReadOrIsNotAnObjectIsRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let missing = ConfigurationCheck(file: scratch.path + "/none.json", environment: scratch.environment, workingDirectory: scratch.path)
        #expect(missing.exitStatus == 2)
        #expect(missing.errors.first?.message.contains("cannot read configuration file") == true, "\(missing.errors)")
        // Where the syntax goes wrong is said (it said "not a JSON object" of all of them), and
        // what Foundation's parser let through (a trailing comma, a key twice) is refused.
        for (text, says) in [
            ("[1, 2]", "is not a JSON object (it holds an array)"),
            ("{\"listen\": ", "is not valid JSON: line 1, column 12: the document ends where a value should be"),
            ("", "is not valid JSON: line 1, column 1: the document is empty"),
            ("{\"max_sessions\": 5,}", "is not valid JSON: line 1, column 20: a trailing comma before '}'"),
            ("{\"agents\": {},\n  \"agents\": {}}", "is not valid JSON: line 2, column 3: duplicate key 'agents'"),
            ("{// a comment\n}", "is not valid JSON: line 1, column 2: expected a key in double quotes, found '/'"),
        ] {
            let check = try scratch.check(text)
            #expect(check.exitStatus == 2, "\(text)")
            #expect(check.errors.first?.message.contains(says) == true, "\(text): \(check.errors)")
        }
    }

    // MARK: - What corral would do

    @Test func aGoodConfigurationIsPlannedAndNothingIsMade() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let agent = try scratch.program("voice-agent")
        let check = try scratch.check(
            """
            {"listen": "127.0.0.1:9123", "data_dir": "state", "containment": "process-group", "startup_timeout_seconds": 12,
             "agents": {"voice": {"command": ["voice-agent", "--fast"], "env": {"LOG_LEVEL": "debug"}, "ready": "notify",
                                  "memory_limit_mb": 512, "pids_limit": 64, "prewarm": 2}}}
            """
        )
        #expect(check.exitStatus == 0, "\(check.text)")
        #expect(check.warnings.isEmpty && check.errors.isEmpty, "\(check.text)")
        let plan = try #require(check.plan)
        #expect(plan.listen == "127.0.0.1:9123")
        #expect(plan.dataDir == scratch.path + "/state")
        #expect(plan.store == .init(kind: "sqlite", path: scratch.path + "/state/corral.db", address: nil, database: nil, password: nil, clusterSecret: nil))
        #expect(plan.containment.mode == "process-group")
        #expect(plan.defaultAgent == "voice", "the only profile is the default")
        let voice = try #require(plan.agents.first)
        #expect(voice.executable == agent)
        #expect(voice.envProgram == nil)
        #expect(voice.environment == ["LOG_LEVEL"])
        #expect(voice.ready == "notify" && voice.startupTimeoutSeconds == 12)
        #expect(voice.memoryLimitMB == 512 && voice.pidsLimit == 64 && voice.cpuLimit == nil && voice.prewarm == 2)
        #expect(check.text.contains("runs       \(agent)"), "\(check.text)")
        #expect(check.text.hasSuffix("ok: the configuration is valid, and this host has what it names"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/state"), "the data directory was made")
    }

    /// An agent's program is looked up as a session start looks it up: in the profile's PATH
    /// if it sets one, else corral's. One that is not found is a warning, an error when strict.
    @Test func anAgentProgramNotFoundIsAWarningOrAnErrorWhenStrict() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let json = #"{"agents": {"a": {"command": ["not-here-agent"]}}}"#
        let check = try scratch.check(json)
        #expect(check.exitStatus == 0)
        #expect(check.warnings == [ConfigurationFinding(key: "agents.a.command", message: "program 'not-here-agent' is not in PATH (\(scratch.bin))")])
        #expect(check.plan?.agents.first?.executable == nil)
        #expect(check.text.contains("warning: agents.a.command: program 'not-here-agent' is not in PATH"), "\(check.text)")

        let strict = try scratch.check(json, strict: true)
        #expect(strict.exitStatus == 1)
        #expect(strict.warnings.isEmpty)
        #expect(Self.keys(strict.errors) == ["agents.a.command"])

        // The profile's PATH is the one the agent gets, and is searched.
        let other = scratch.path + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        let found = try scratch.program("not-here-agent", in: other)
        let withPath = try scratch.check(#"{"agents": {"a": {"command": ["not-here-agent"], "env": {"PATH": "\#(other)"}}}}"#, strict: true)
        #expect(withPath.exitStatus == 0, "\(withPath.text)")
        #expect(withPath.plan?.agents.first?.executable == found)

        // A path: an executable regular file, or nothing.
        try scratch.write("not executable", to: scratch.path + "/plain")
        for program in [scratch.path + "/plain", scratch.path + "/none", scratch.bin] {
            let check = try scratch.check(#"{"agents": {"a": {"command": ["\#(program)"]}}}"#)
            #expect(check.warnings.first?.message == "program '\(program)' does not exist or is not an executable file", "\(check.warnings)")
        }
    }

    /// `env PROGRAM`: env itself is found, and so must be what it runs, in the PATH it runs it with.
    @Test func whatEnvRunsIsLookedUpToo() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let env = try scratch.program("env")
        let missing = try scratch.check(#"{"agents": {"a": {"command": ["env", "LOG_LEVEL=debug", "voice-agent", "--x"]}}}"#)
        #expect(
            missing.warnings == [
                ConfigurationFinding(key: "agents.a.command", message: "\(env) runs 'voice-agent', which is not in PATH (\(scratch.bin))")
            ]
        )
        #expect(missing.plan?.agents.first?.executable == env)
        #expect(missing.plan?.agents.first?.envProgram == .init(name: "voice-agent", path: nil))
        #expect(missing.text.contains("runs       \(env), which runs voice-agent: NOT FOUND"), "\(missing.text)")

        let agent = try scratch.program("voice-agent")
        let found = try scratch.check(#"{"agents": {"a": {"command": ["env", "LOG_LEVEL=debug", "voice-agent", "--x"]}}}"#, strict: true)
        #expect(found.exitStatus == 0, "\(found.text)")
        #expect(found.plan?.agents.first?.envProgram == .init(name: "voice-agent", path: agent))

        // PATH set on env's command line is the one it searches.
        let elsewhere = try scratch.check(#"{"agents": {"a": {"command": ["env", "PATH=/nonexistent-corral", "voice-agent"]}}}"#)
        #expect(elsewhere.warnings.first?.message == "\(env) runs 'voice-agent', which is not in PATH (/nonexistent-corral)", "\(elsewhere.warnings)")
    }

    /// A script's `#!` line: the interpreter it names must be there, and so must what it has env
    /// run (every start failed with "could not execute", and the check said nothing).
    @Test func whatAScriptsInterpreterLineNamesIsLookedUpToo() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let script = scratch.path + "/agent-script"
        let path = scratch.bin + ":/bin:/usr/bin"
        let cases: [(String, String?)] = [
            ("#!/nonexistent/python3 -u", "\(script) names /nonexistent/python3 on its #! line, which does not exist or is not an executable file"),
            (
                "#! /usr/bin/env  corral-no-such-interpreter",
                "the #! line of \(script) (/usr/bin/env) runs 'corral-no-such-interpreter', which is not in PATH (\(path))"
            ),
            ("#!/bin/sh -e", nil),
            ("#!/usr/bin/env sh", nil),
        ]
        for (line, says) in cases {
            try scratch.write(line + "\nexit 0\n", to: script)
            chmod(script, 0o755)
            let check = try scratch.check(#"{"agents": {"a": {"command": ["\#(script)", "--x"]}}}"#, environment: ["PATH": path])
            #expect(check.warnings.map(\.message) == (says.map { [$0] } ?? []), "\(line)")
        }
    }

    /// `python3 agent.py` with no agent.py: the interpreter resolves, every start would fail.
    @Test func aScriptAnInterpreterWouldRunMustBeThere() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("python3")
        try scratch.program("env")
        let missing = try scratch.check(#"{"agents": {"a": {"command": ["env", "python3", "-u", "agents/voice.py"]}}}"#)
        #expect(
            missing.warnings == [
                ConfigurationFinding(key: "agents.a.command", message: "python3 would run 'agents/voice.py', which does not exist (in \(scratch.path))")
            ]
        )
        #expect(try scratch.check(#"{"agents": {"a": {"command": ["python3", "agents/voice.py"]}}}"#, strict: true).exitStatus == 1)

        try FileManager.default.createDirectory(atPath: scratch.path + "/agents", withIntermediateDirectories: true)
        try scratch.write("print('hi')\n", to: scratch.path + "/agents/voice.py")
        #expect(try scratch.check(#"{"agents": {"a": {"command": ["env", "python3", "-u", "agents/voice.py"]}}}"#, strict: true).exitStatus == 0)
        // The agent's cwd is where a relative script is.
        let elsewhere = try scratch.check(#"{"agents": {"a": {"command": ["python3", "agents/voice.py"], "cwd": "bin"}}}"#)
        #expect(elsewhere.warnings.map(\.message) == ["python3 would run 'agents/voice.py', which does not exist (in \(scratch.bin))"])
    }

    @Test func theScriptIsFoundOnlyWhereItCanBeTold() {
        let python = InterpreterScript(["/usr/bin/python3.11", "-W", "ignore", "-u", "agent.py", "--port", "1"])
        #expect(python?.interpreter == "/usr/bin/python3.11" && python?.path == "agent.py")
        #expect(InterpreterScript(["/usr/bin/env", "node", "--require", "dotenv/config", "server.js"])?.path == "server.js")
        #expect(InterpreterScript(["bash", "run.sh"])?.path == "run.sh")
        #expect(InterpreterScript(["python3", "-m", "agent"]) == nil, "a module, not a file")
        #expect(InterpreterScript(["sh", "-c", "exec agent"]) == nil, "inline code")
        #expect(InterpreterScript(["node", "-e", "1"]) == nil)
        #expect(InterpreterScript(["/opt/agent", "python3", "x.py"])?.path == "x.py", "an interpreter anywhere in the command line")
        #expect(InterpreterScript(["/opt/agent", "--flag"]) == nil, "no interpreter")
        #expect(InterpreterScript(["pythonista", "x.py"]) == nil)
    }

    @Test func envCommandLinesAreReadAsGNUEnvReadsThem() {
        func invocation(_ arguments: [String]) -> EnvInvocation? { EnvInvocation(["/usr/bin/env"] + arguments, agentPath: "/agent/bin") }
        #expect(invocation(["python3", "agent.py"]) == EnvInvocation(program: "python3", searchPath: "/agent/bin", directory: nil))
        #expect(invocation(["-i", "A=1", "python3"]) == EnvInvocation(program: "python3", searchPath: "/bin:/usr/bin", directory: nil))
        #expect(invocation(["-u", "HOME", "PATH=/x:/y", "python3"])?.searchPath == "/x:/y")
        #expect(invocation(["-uPATH", "python3"])?.searchPath == "/bin:/usr/bin")
        #expect(invocation(["-C", "/srv", "./run"]) == EnvInvocation(program: "./run", searchPath: "/agent/bin", directory: "/srv"))
        #expect(invocation(["--chdir=/srv", "--", "-odd"])?.program == "-odd")
        #expect(invocation(["-S", "python3 -u", "agent.py"])?.program == "python3")
        #expect(invocation(["--split-string=PATH=/opt/bin node"]) == EnvInvocation(program: "node", searchPath: "/opt/bin", directory: nil))
        #expect(invocation(["A=1", "-i"])?.program == "-i", "options end at the first assignment")
        #expect(invocation(["-S", "'quoted words'"]) == nil, "quoting is not followed")
        #expect(invocation(["--frobnicate", "python3"]) == nil, "an option it does not know")
        #expect(invocation(["A=1"]) == nil, "no program: env prints its environment")
        #expect(EnvInvocation(["python3", "env"], agentPath: nil) == nil)
        #expect(EnvInvocation(["/opt/environment", "x"], agentPath: nil) == nil)
    }

    /// A store file that is there but is not an SQLite database: found, as `corral serve` would
    /// refuse it (the check said "ok", an outside review); an empty one is a new database.
    @Test func aStoreThatIsNotADatabaseIsFound() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let store = scratch.path + "/notes.txt"
        try scratch.write("these are notes\n", to: store)
        let json = #"{"data_dir": "\#(scratch.path)/state", "store": "sqlite:\#(store)", "agents": {"a": {"command": ["a"]}}}"#
        let check = try scratch.check(json)
        #expect(
            check.warnings == [
                ConfigurationFinding(key: "store", message: "\(store) is not an SQLite database (its first bytes are not SQLite's header); corral serve would refuse it")
            ], "\(check.warnings)"
        )
        try scratch.write("", to: store)
        #expect(try scratch.check(json).warnings.isEmpty)
    }

    /// Every file and directory the keys name, when this host does not have it: a warning naming
    /// the key (the variable, for a value from the environment), an error when strict. With
    /// them there, none.
    @Test func filesTheKeysNameThatAreNotHereAreWarnings() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let missing = scratch.path + "/missing"
        let json = """
            {"data_dir": "\(missing)/state", "store": "sqlite:\(missing)/db/corral.db", "audit_log": "\(missing)/audit/audit.log",
             "tls_cert_file": "\(missing)/cert.pem", "tls_key_file": "\(missing)/key.pem",
             "livekit": {"url": "wss://lk.invalid", "api_key": "k", "api_secret_file": "\(missing)/secret"},
             "agents": {"a": {"command": ["a"], "cwd": "\(missing)/work"}}}
            """
        let environment = ["CORRAL_API_TOKEN_FILE": missing + "/token"]
        let check = try scratch.check(json, environment: environment)
        #expect(check.exitStatus == 0, "\(check.text)")
        #expect(
            Set(Self.keys(check.warnings))
                == ["data_dir", "store", "audit_log", "tls_cert_file", "tls_key_file", "livekit.api_secret_file", "CORRAL_API_TOKEN_FILE", "agents.a.cwd"],
            "\(check.warnings)"
        )
        #expect(check.warnings.contains(ConfigurationFinding(key: "agents.a.cwd", message: "\(missing)/work does not exist")))
        #expect(check.warnings.contains(ConfigurationFinding(key: "CORRAL_API_TOKEN_FILE", message: "cannot read \(missing)/token")))
        #expect(check.plan?.authentication.apiToken == "set", "a token file is a token, wherever it is read")

        let strict = try scratch.check(json, environment: environment, strict: true)
        #expect(strict.exitStatus == 1)
        #expect(strict.errors.count == check.warnings.count && strict.warnings.isEmpty)

        // Made, they are found.
        for directory in ["work", "db", "audit"] {
            try FileManager.default.createDirectory(atPath: missing + "/" + directory, withIntermediateDirectories: true)
        }
        for file in ["cert.pem", "key.pem", "secret", "token"] { try scratch.write("x\n", to: missing + "/" + file) }
        let present = try scratch.check(json, environment: environment, strict: true)
        #expect(present.exitStatus == 0, "\(present.text)")
        #expect(!FileManager.default.fileExists(atPath: missing + "/state"))
        #expect(!FileManager.default.fileExists(atPath: missing + "/db/corral.db"))
        #expect(!FileManager.default.fileExists(atPath: missing + "/audit/audit.log"))
    }

    /// Tokens, keys, secrets, passwords and agents' environment values are never shown.
    @Test func secretsAreNeverShown() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.program("a")
        let check = try scratch.check(
            """
            {"api_token": "tok-SECRET-1", "store": "redis://:pw-SECRET-2@redis.invalid:6380/2",
             "events_webhook_url": "https://hook:hook-SECRET-3@hooks.invalid/corral",
             "livekit": {"url": "wss://lk.invalid", "api_key": "key-SECRET-4", "api_secret": "sec-SECRET-5"},
             "agents": {"a": {"command": ["a"], "env": {"OPENAI_API_KEY": "env-SECRET-6"}, "livekit_worker": {"agent_name": "front-desk"}}}}
            """
        )
        #expect(check.exitStatus == 0, "\(check.text)")
        for output in [check.text, check.json] {
            #expect(!output.contains("SECRET"), "\(output)")
        }
        let plan = try #require(check.plan)
        #expect(plan.store == .init(kind: "redis", path: nil, address: "redis.invalid:6380", database: 2, password: "set", clusterSecret: "this node's own"))
        #expect(plan.authentication.apiToken == "set")
        #expect(plan.livekit?.apiKey == "set" && plan.livekit?.apiSecret == "set")
        #expect(plan.livekit?.webhookURL == "http://127.0.0.1:8080/api/livekit/webhook")
        #expect(plan.eventsWebhookURL == "https://hook:[redacted]@hooks.invalid/corral")
        #expect(plan.agents.first?.environment == ["OPENAI_API_KEY"])
        #expect(plan.agents.first?.livekitWorker?.agentName == "front-desk")
        #expect(plan.agents.first?.livekitWorker?.url == "wss://lk.invalid")
    }

    @Test func theJSONFormHasThePlanAndTheFindingsInSnakeCase() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let check = try scratch.check(#"{"agents": {"a": {"command": ["not-here"], "memory_limit_mb": 64, "cwd": "/"}}}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(check.json.utf8)) as? [String: Any])
        #expect(object["config"] as? String == scratch.path + "/corral.json")
        #expect(object["strict"] as? Bool == false)
        #expect(object["data_dir"] as? String == scratch.path + "/corral-data")
        #expect((object["errors"] as? [Any])?.isEmpty == true)
        let warnings = try #require(object["warnings"] as? [[String: String]])
        #expect(warnings == [["key": "agents.a.command", "message": "program 'not-here' is not in PATH (\(scratch.bin))"]])
        let agent = try #require((object["agents"] as? [[String: Any]])?.first)
        #expect(agent["memory_limit_mb"] as? Int == 64)
        #expect(agent["startup_timeout_seconds"] as? Int == 30)
        #expect(agent["cwd"] as? String == "/")
        #expect(agent["executable"] == nil, "not found: left out")
        let containment = try #require(object["containment"] as? [String: Any])
        #expect(containment["mode"] is String && containment["limits"] is [String: String])

        let refused = try scratch.check(#"{"nope": 1}"#)
        let refusedObject = try #require(try JSONSerialization.jsonObject(with: Data(refused.json.utf8)) as? [String: Any])
        #expect(refusedObject["listen"] == nil)
        #expect((refusedObject["errors"] as? [[String: String]])?.first?["key"] == "nope")
    }
}
