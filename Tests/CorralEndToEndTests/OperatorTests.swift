import CorralCore
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("What an operator sees: CLI, metrics, events, logs")
struct OperatorTests {
    func cli(_ corral: CorralProcess, _ arguments: String..., environment: [String: String] = [:]) async throws -> CommandRunner.Result {
        var environment = environment
        environment["CORRAL_URL"] = environment["CORRAL_URL"] ?? "http://127.0.0.1:\(corral.port)"
        return try await CommandRunner.run(CorralProcess.executable, arguments, environment: environment)
    }

    @Test func cliCommandsAndExitCodes() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let corral = try await bed.startCorral()
            let started = try await cli(corral, "start", "cooperative", "--id", "call-1", "--meta", "room=lobby", "--meta", "caller=+49", "--timeout", "600")
            #expect(started.status == 0, "\(started.errors)")
            #expect(started.output.contains("started call-1"))
            let json = try await cli(corral, "start", "setsid-child", "--id", "call-2", "--json")
            #expect(json.status == 0)
            #expect(((try? JSONSerialization.jsonObject(with: Data(json.output.utf8))) as? [String: Any])?["session_id"] as? String == "call-2")

            let table = try await cli(corral, "sessions")
            #expect(table.status == 0)
            let lines = table.output.split(separator: "\n")
            #expect(lines.first?.hasPrefix("ID") == true && lines.first?.contains("MEMORY") == true)
            #expect(lines.contains { $0.hasPrefix("call-1") && $0.contains("cooperative") && $0.contains("running") })
            #expect(lines.count == 3)

            let listed = try await cli(corral, "sessions", "--json")
            let sessions = ((try? JSONSerialization.jsonObject(with: Data(listed.output.utf8))) as? [String: Any])?["sessions"] as? [[String: Any]]
            #expect(sessions?.count == 2)
            #expect(sessions?.first { $0["session_id"] as? String == "call-1" }?["metadata"] as? [String: String] == ["room": "lobby", "caller": "+49"])
            #expect(sessions?.allSatisfy { ($0["processes"] as? Int ?? 0) >= 1 } == true)

            _ = await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses("call-2").count == 3 }
            let tree = try await cli(corral, "inspect", "call-2")
            #expect(tree.status == 0)
            #expect(tree.output.contains("└─") || tree.output.contains("├─"), "\(tree.output)")
            #expect(tree.output.contains("left the group"), "the setsid child is marked: \(tree.output)")

            let logs = try await cli(corral, "logs", "call-1", "--tail", "1")
            #expect(logs.status == 0)
            #expect(logs.output.contains("cooperative agent"))
            // --json: one object per line (it printed the text).
            let jsonLines = try await cli(corral, "logs", "call-1", "--json")
            let objects = jsonLines.output.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
            #expect(!objects.isEmpty && objects.allSatisfy { $0?["session_id"] == "call-1" && $0?["line"] != nil }, "\(jsonLines.output)")
            #expect(objects.contains { $0?["line"]?.contains("cooperative agent") == true }, "\(jsonLines.output)")

            let ended = try await cli(corral, "end", "call-1", "call-2")
            #expect(ended.status == 0, "\(ended.errors)")
            #expect(ended.output.contains("call-1: terminated"))

            // The server refuses: exit 1, with the server's message.
            let missing = try await cli(corral, "end", "call-1")
            #expect(missing.status == 1)
            #expect(missing.errors.contains("no session 'call-1'"))
            #expect(missing.errors.contains("`corral sessions` lists the live sessions"), "\(missing.errors)")
            // With --json, the refusal is in the array as the server gave it.
            let missingJSON = try await cli(corral, "end", "call-1", "--json")
            #expect(missingJSON.status == 1)
            let refusal = (try? JSONSerialization.jsonObject(with: Data(missingJSON.output.utf8))) as? [[String: Any]]
            #expect(refusal?.count == 1 && refusal?.first?["status"] as? Int == 404, "\(missingJSON.output)")
            #expect((refusal?.first?["error"] as? String)?.hasPrefix("no session 'call-1'") == true, "\(missingJSON.output)")
            // An unknown agent: the server names the profiles; no hint about sessions.
            let unknownAgent = try await cli(corral, "start", "no-such-agent")
            #expect(unknownAgent.status == 1)
            #expect(unknownAgent.errors.contains("unknown agent 'no-such-agent'; configured agents:"), "\(unknownAgent.errors)")
            #expect(!unknownAgent.errors.contains("corral sessions"), "\(unknownAgent.errors)")
            // Usage errors: exit 2.
            #expect(try await cli(corral, "end").status == 2)
            #expect(try await cli(corral, "start", "--meta", "novalue").status == 2)
            #expect(try await cli(corral, "frobnicate").status == 2)
            // Nobody there: exit 3.
            let unreachable = try await cli(corral, "sessions", environment: ["CORRAL_URL": "http://127.0.0.1:1"])
            #expect(unreachable.status == 3)
            #expect(
                unreachable.errors == "corral: connection refused: nothing listens at http://127.0.0.1:1. Is `corral serve` running? Point --url or CORRAL_URL at it.\n",
                "\(unreachable.errors)"
            )
            // A name (localhost: both ::1 and 127.0.0.1 are tried) says the same.
            let byName = try await cli(corral, "end", "call-1", environment: ["CORRAL_URL": "http://localhost:1"])
            #expect(byName.status == 3)
            #expect(byName.errors.contains("connection refused: nothing listens at http://localhost:1."), "\(byName.errors)")
            // Logs outlive their session.
            let after = try await cli(corral, "logs", "call-1")
            #expect(after.output.contains("cooperative agent"))

            // Every session at once, as before stopping a corral for good.
            for id in ["all-1", "all-2", "all-3"] { _ = try await corral.start(#"{"session_id": "\#(id)"}"#) }
            let everything = try await cli(corral, "end", "--all")
            #expect(everything.status == 0, "\(everything.errors)")
            for id in ["all-1", "all-2", "all-3"] { #expect(everything.output.contains("\(id): terminated"), "\(everything.output)") }
            #expect(try await corral.sessions().isEmpty)
            #expect(try await cli(corral, "end", "--all").output.contains("no live sessions"))
            #expect(try await cli(corral, "end", "--all", "call-1").status == 2)
        }
    }

    /// A process names itself: `inspect` shows its name with control characters escaped, so it
    /// cannot colour, retitle or clear the operator's terminal, or forge a line of the tree.
    @Test func inspectEscapesWhatAProcessCallsItself() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            var agents = bed.config["agents"] as? [String: Any] ?? [:]
            agents["named"] = [
                "command": ["bash", "-c", #"exec -a $'\e[31mEVIL\e]0;title\a\nFAKE 99999 sshd' sleep 1000"#], "env": ["CORRAL_TEST_RUN": bed.tag],
            ]
            bed.config["agents"] = agents
            let corral = try await bed.startCorral()
            _ = try await corral.start(#"{"agent": "named", "session_id": "named"}"#)
            var output = ""
            #expect(try await ProcessProbe.waitUntil {
                output = try await cli(corral, "inspect", "named").output
                return output.contains("EVIL")
            })
            #expect(!output.contains("\u{1b}") && !output.contains("\u{7}"), "\(output.debugDescription)")
            #expect(output.contains(#"\x1b[31mEVIL\x1b]0;title\x07\x0aFAKE 99999 sshd"#), "\(output)")
            #expect(!output.split(separator: "\n").contains { $0.hasPrefix("FAKE") }, "\(output)")
            #expect(try await corral.request(.DELETE, "/api/sessions/named").status == 200)
        }
    }

    /// An agent's escape sequences (a title change, a clear screen, colours, a carriage return
    /// that hides what came before it) reach an operator's terminal escaped, as `inspect` shows
    /// names; piped, or with `--raw`, the log is as written. (They were written raw to the
    /// terminal, an exploratory tester found.)
    @Test func logsOnATerminalAreEscaped() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            var agents = bed.config["agents"] as? [String: Any] ?? [:]
            agents["loud"] = [
                "command": ["bash", "-c", #"printf '\e]0;title\a\e[2J\e[31mred\e[0m hidden\rshown\nnext é\n'; exec sleep 1000"#],
                "env": ["CORRAL_TEST_RUN": bed.tag],
            ]
            bed.config["agents"] = agents
            let corral = try await bed.startCorral()
            _ = try await corral.start(#"{"agent": "loud", "session_id": "loud"}"#)
            #expect(try await ProcessProbe.waitUntil { try await corral.request(.GET, "/api/sessions/loud/logs").text.contains("next") })
            let environment = ["CORRAL_URL": "http://127.0.0.1:\(corral.port)"]
            // `script` runs the command on a terminal of its own.
            let onTerminal = try await CommandRunner.run("/usr/bin/script", ["-qec", "\(CorralProcess.executable) logs loud", "/dev/null"], environment: environment)
            #expect(onTerminal.status == 0, "\(onTerminal.errors)")
            #expect(!onTerminal.output.contains("\u{1b}") && !onTerminal.output.contains("\u{7}"), "\(onTerminal.output.debugDescription)")
            #expect(onTerminal.output.contains(#"\x1b]0;title\x07\x1b[2J\x1b[31mred\x1b[0m hidden\x0dshown"#), "\(onTerminal.output.debugDescription)")
            #expect(onTerminal.output.contains("next é"), "\(onTerminal.output.debugDescription)")
            let raw = try await CommandRunner.run("/usr/bin/script", ["-qec", "\(CorralProcess.executable) logs loud --raw", "/dev/null"], environment: environment)
            #expect(raw.output.contains("\u{1b}]0;title\u{7}"), "\(raw.output.debugDescription)")
            let piped = try await cli(corral, "logs", "loud")
            #expect(piped.output == "\u{1b}]0;title\u{7}\u{1b}[2J\u{1b}[31mred\u{1b}[0m hidden\rshown\nnext é\n", "\(piped.output.debugDescription)")
            #expect(try await corral.request(.DELETE, "/api/sessions/loud").status == 200)
        }
    }

    /// In a pid namespace the init and its agent lead groups of their own: `inspect` marked every
    /// process, the agent too, as having left the group.
    @Test(.enabled(if: !pidNamespaceCases.isEmpty, "pid namespaces cannot be made here"))
    func inspectMarksNoGroupInAPidNamespace() async throws {
        try await CrashTestBed.run(containment: .pidNamespace) { bed in
            let corral = try await bed.startCorral()
            #expect(try await cli(corral, "start", "cooperative", "--id", "in-ns").status == 0)
            #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses("in-ns", run: bed.tag).count >= 2 })
            let tree = try await cli(corral, "inspect", "in-ns")
            #expect(tree.status == 0 && tree.output.contains("cooperative"), "\(tree.output)")
            #expect(!tree.output.contains("left the group"), "\(tree.output)")
            #expect(try await cli(corral, "end", "in-ns").status == 0)
        }
    }

    @Test func cliSendsTheTokenFromTheEnvironmentOrAFile() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["api_token": "s3cret"]) { bed in
            let corral = try await bed.startCorral()
            #expect(try await cli(corral, "sessions").status == 1)
            #expect(try await cli(corral, "sessions", environment: ["CORRAL_TOKEN": "s3cret"]).status == 0)
            let file = bed.directory + "/token"
            try "s3cret\n".write(toFile: file, atomically: true, encoding: .utf8)
            #expect(try await cli(corral, "sessions", "--token-file", file).status == 0)
            #expect(try await cli(corral, "sessions", "--token-file", bed.directory + "/missing").status == 2)
            // A negative number is a bad value, named as such (it read as an option: "Missing value").
            let negative = try await cli(corral, "start", "--timeout", "-1")
            #expect(negative.status == 2 && negative.errors.contains("--timeout: must be a number of seconds greater than 0"), "\(negative.errors)")
            // Not finite: the body could not be written, and was dropped; a session of the default
            // agent started, under a generated id (an outside review).
            for value in ["nan", "inf", "1e400"] {
                let notFinite = try await cli(corral, "start", "--id", "not-finite", "--timeout", value)
                #expect(notFinite.status == 2 && notFinite.errors.contains("--timeout: must be a number"), "\(value): \(notFinite.errors)")
            }
            #expect(try await corral.sessions().isEmpty)
            let negativeTail = try await cli(corral, "logs", "x", "--tail", "-3")
            #expect(negativeTail.status == 2 && negativeTail.errors.contains("--tail: must be 0 or more"), "\(negativeTail.errors)")
            // An empty file (a secret not mounted yet) is a usage error, not a request without a token.
            let empty = bed.directory + "/empty-token"
            try "\n".write(toFile: empty, atomically: true, encoding: .utf8)
            let withEmpty = try await cli(corral, "sessions", "--token-file", empty)
            #expect(withEmpty.status == 2 && withEmpty.errors.contains("is empty"), "\(withEmpty.errors)")
            // A token from a file saved on Windows ($(cat file) keeps its \r): trimmed, and sent.
            #expect(try await cli(corral, "sessions", environment: ["CORRAL_TOKEN": "s3cret\r"]).status == 0)
            // A character no header can carry: a usage error that names where the token came
            // from, never the token (it printed the client's error, the token in it).
            let unsendable = try await cli(corral, "sessions", environment: ["CORRAL_TOKEN": "s3c\u{1}ret"])
            #expect(unsendable.status == 2)
            #expect(unsendable.errors.contains("CORRAL_TOKEN: the token has a character an HTTP header cannot carry at position 4"), "\(unsendable.errors)")
            #expect(!unsendable.errors.contains("s3c"), "\(unsendable.errors)")
            // A URL's password and query are not printed either.
            let secretURL = try await cli(corral, "sessions", environment: ["CORRAL_URL": "http://user:url-SECRET@127.0.0.1:1/?token=qs-SECRET"])
            #expect(secretURL.status == 3)
            #expect(!secretURL.errors.contains("SECRET") && secretURL.errors.contains("nothing listens at"), "\(secretURL.errors)")
        }
    }

    @Test func metricsCountAKnownSequence() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["grace_seconds": 0.5]) { bed in
            let corral = try await bed.startCorral()
            for index in 0..<3 { _ = try await corral.start(#"{"agent": "cooperative", "session_id": "d\#(index)"}"#) }
            _ = try await corral.start(#"{"agent": "sleeper", "session_id": "t0", "timeout_seconds": 1}"#)
            _ = try await corral.start(#"{"agent": "sleeper", "session_id": "keep"}"#)
            for index in 0..<3 { #expect(try await corral.request(.DELETE, "/api/sessions/d\(index)").status == 200) }
            #expect(try await ProcessProbe.waitUntil { try await corral.request(.GET, "/api/sessions/t0").status == 404 })

            let metrics = PrometheusText(try await corral.request(.GET, "/metrics").text)
            #expect(metrics.value("corral_sessions_started_total", ["agent": "cooperative"]) == 3)
            #expect(metrics.value("corral_sessions_started_total", ["agent": "sleeper"]) == 2)
            #expect(metrics.value("corral_sessions_ended_total", ["agent": "cooperative", "reason": "deleted"]) == 3)
            #expect(metrics.value("corral_sessions_ended_total", ["agent": "sleeper", "reason": "timeout"]) == 1)
            #expect(metrics.value("corral_sessions_active", ["agent": "sleeper", "status": "running"]) == 1)
            #expect(metrics.value("corral_sessions_active", ["agent": "cooperative", "status": "running"]) == 0)
            #expect(metrics.value("corral_session_start_duration_seconds_count") == 5)
            #expect(metrics.value("corral_session_end_duration_seconds_count") == 4)
            #expect(metrics.value("corral_session_processes_count") == 4)
            // Each cooperative agent had itself and one child when its end began.
            #expect(metrics.value("corral_session_processes_bucket", ["le": "2.0"]) == 4)
            #expect(metrics.value("corral_spawn_failures_total") == 0)
        }
    }

    @Test func eventsArriveInOrder() async throws {
        try await CrashTestBed.run(containment: testedModes.first!) { bed in
            let corral = try await bed.startCorral()
            let stream = try await EventStream.open("http://127.0.0.1:\(corral.port)/api/events")
            _ = try await corral.start(#"{"agent": "setsid-child", "session_id": "e1"}"#)
            #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses("e1", run: bed.tag).count == 3 })
            #expect(try await corral.request(.DELETE, "/api/sessions/e1").status == 200)
            let events = try await stream.next(4)
            #expect(events.map { $0["type"] as? String } == ["session.started", "session.status", "session.escape", "session.ended"])
            #expect(events.allSatisfy { $0["session_id"] as? String == "e1" })
            #expect(events[1]["status"] as? String == "stopping")
            #expect((events[2]["pids"] as? [Int])?.count == 1)
            #expect(events[3]["reason"] as? String == "deleted")
            #expect(events[3]["duration_ms"] is Int)
            let sequences = events.compactMap { $0["sequence"] as? Int }
            #expect(sequences == sequences.sorted())
            stream.close()
        }
    }

    /// A log written past `log_max_bytes` between two looks, by an agent that then exits, is
    /// capped at its session's end (an outside review: it kept its size, and filled a small data
    /// directory, until `log_retention_seconds`).
    @Test func aLogWrittenPastItsCapByAnAgentThatExitedIsCapped() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["log_max_bytes": 65536, "watch_interval_seconds": 600]) { bed in
            bed.addAgent("burst", command: ["/bin/sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' x | fold -w 99"])
            let corral = try await bed.startCorral()
            _ = try await corral.start(#"{"agent": "burst", "session_id": "burst"}"#)
            let logPath = bed.dataDirectory + "/logs/burst.log"
            func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1 }
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) { try await corral.request(.GET, "/api/sessions/burst").status == 404 })
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { size(logPath) == 0 && size(logPath + ".1") == 65536 }, "\(size(logPath)), \(size(logPath + ".1"))")
        }
    }

    @Test func logsAreFollowedRotatedAndExpired() async throws {
        try await CrashTestBed.run(
            containment: .processGroup,
            extra: ["log_max_bytes": 4096, "watch_interval_seconds": 0.2, "log_retention_seconds": 60, "sweep_interval_seconds": 0.5]
        ) { bed in
            bed.addAgent("chatty", command: ["/bin/sh", "-c", "i=0; while :; do for j in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do echo line $i; i=$((i+1)); done; sleep 0.05; done"])
            let corral = try await bed.startCorral()
            _ = try await corral.start(#"{"agent": "chatty", "session_id": "chat"}"#)
            let logPath = bed.dataDirectory + "/logs/chat.log"
            // Sizes are looked at every 3 s here; a loaded machine slows the writer, hence the margin.
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: logPath + ".1") }, "the log was not rotated")
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                ((try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? .max) < 4096 * 4
            })
            // Right after a rotation the log is empty until the agent writes again.
            var tail = try await corral.request(.GET, "/api/sessions/chat/logs?tail=3")
            #expect(tail.status == 200)
            #expect(try await ProcessProbe.waitUntil {
                tail = try await corral.request(.GET, "/api/sessions/chat/logs?tail=3")
                return tail.text.split(separator: "\n").count >= 3
            })
            #expect(tail.text.split(separator: "\n").count == 3)
            #expect(tail.text.split(separator: "\n").allSatisfy { $0.hasPrefix("line ") })
            #expect(try await corral.request(.GET, "/api/sessions/chat/logs?tail=-1").status == 400)
            #expect(try await corral.request(.GET, "/api/sessions/nobody/logs").status == 404)
            #expect(try await corral.request(.DELETE, "/api/sessions/chat").status == 200)

            // A log older than log_retention_seconds is removed by the sweeper.
            let old = timeval(tv_sec: time(nil) - 3600, tv_usec: 0)
            var times = [old, old]
            _ = utimes(logPath, &times)
            _ = utimes(logPath + ".1", &times)
            #expect(await ProcessProbe.waitUntil { !FileManager.default.fileExists(atPath: logPath) })
            #expect(!FileManager.default.fileExists(atPath: logPath + ".1"))
        }
    }

    @Test func jsonLogsCarryTheSession() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["log_format": "json"]) { bed in
            let corral = try await bed.startCorral()
            _ = try await corral.start(#"{"agent": "sleeper", "session_id": "j1"}"#)
            #expect(try await corral.request(.DELETE, "/api/sessions/j1").status == 200)
            // corral's output reaches the test through a pipe read as it comes: wait for the line.
            let lines = { corral.log.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] } }
            let ended = await ProcessProbe.waitUntil { lines().contains { $0["message"] as? String == "session ended" && $0["reason"] as? String == "deleted" } }
            #expect(ended, "no 'session ended' line: \(corral.log.suffix(2000))")
            let spawned = lines().first { $0["message"] as? String == "agent spawned" }
            #expect(spawned?["session"] as? String == "j1")
            #expect(spawned?["agent"] as? String == "sleeper")
            #expect(spawned?["pid"] != nil && spawned?["pgid"] != nil && spawned?["level"] as? String == "info")
        }
    }
}

/// Prometheus text exposition, parsed enough to read single values.
struct PrometheusText {
    let samples: [(name: String, labels: [String: String], value: Double)]

    init(_ text: String) {
        samples = text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return (String(series), [:], value) }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { labels[String(parts[0])] = String(parts[1].dropFirst().dropLast()) }
            }
            return (String(series[..<brace]), labels, value)
        }
    }

    /// The value of the series with exactly these labels (nil if absent).
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}
