import ArgumentParser
import CorralServer
import Foundation

struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List live sessions.",
        discussion: """
            Examples:
              corral sessions
              corral sessions --json
              CORRAL_URL=http://10.0.0.5:8080 corral sessions
            """
    )

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        try await runClient { () throws(APIClient.Failure) in
            let reply = try await client.send(.GET, "/api/sessions?usage=true")
            if options.json { return printJSON(reply.body) }
            let sessions = try reply.decode(SessionListWire.self).sessions
            guard !sessions.isEmpty else { return print("no live sessions") }
            let rows = sessions.map { session -> [String] in
                [
                    session.sessionID,
                    session.agent,
                    session.status,
                    Formatting.date(session.startedAt).map { Formatting.age(since: $0) } ?? "",
                    session.pid.map { String($0) } ?? "-",
                    session.pgid.map { String($0) } ?? "-",
                    session.processes.map { String($0) } ?? "-",
                    session.memoryBytes.map { Formatting.bytes(Int(clamping: $0)) } ?? "-",
                ]
            }
            print(Formatting.table(["ID", "AGENT", "STATUS", "AGE", "PID", "PGID", "PROCS", "MEMORY"], rows))
        }
    }
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a session.",
        discussion: """
            Metadata goes to the agent as CORRAL_METADATA (JSON), never on its command line.

            Examples:
              corral start
              corral start demo --id call-42 --meta room=lobby --meta caller=+4930123 --timeout 3600
            """
    )

    @Argument(help: "The agent profile (default: the server's default_agent).")
    var agent: String?

    @Option(name: .customLong("id"), help: "The session id (default: generated).")
    var sessionID: String?

    @Option(name: .customLong("meta"), help: ArgumentHelp("Metadata as key=value; repeatable.", valueName: "key=value"))
    var metadata: [String] = []

    // Unconditional: `--timeout -1` is a bad value to name, not a missing one.
    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds until the session is ended.", valueName: "seconds"))
    var timeout: Double?

    @OptionGroup var options: ClientOptions

    func validate() throws {
        for entry in metadata where !entry.contains("=") || entry.hasPrefix("=") {
            throw ValidationError("--meta: expected key=value, got '\(entry)'")
        }
        // NaN is not <= 0, and `inf`, `1e400` parse: none is a number of seconds JSON can carry.
        if let timeout, !(timeout.isFinite && timeout > 0) { throw ValidationError("--timeout: must be a number of seconds greater than 0") }
    }

    func run() async throws {
        let client = try options.client()
        var body: [String: Any] = [:]
        if let agent { body["agent"] = agent }
        if let sessionID { body["session_id"] = sessionID }
        if let timeout { body["timeout_seconds"] = timeout }
        if !metadata.isEmpty {
            body["metadata"] = Dictionary(metadata.map { entry in
                let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), String(parts[1]))
            }) { _, last in last }
        }
        try await runClient { () throws(APIClient.Failure) in
            let reply = try await client.send(.POST, "/api/sessions", body: body)
            if options.json { return printJSON(reply.body) }
            let session = try reply.decode(SessionWire.self)
            print("started \(session.sessionID) (agent \(session.agent), pid \(session.pid ?? 0), \(session.containment), \(session.status))")
        }
    }
}

struct End: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "End sessions: SIGTERM to each whole tree, SIGKILL after the grace period.",
        discussion: """
            Returns once nothing of each session is left. Exit status 1 if any could not be ended. \
            With --all, every live session is ended, one after another; one that ended by itself \
            meanwhile is not a failure. --json prints one array: the server's answer for each \
            session ended, {"session_id", "error", "status"} for each it refused.

            Examples:
              corral end call-42
              corral end call-42 call-43 --json
              corral end --all
            """
    )

    @Argument(help: "Session ids.")
    var ids: [String] = []

    @Flag(name: .long, help: "End every live session.")
    var all = false

    @OptionGroup var options: ClientOptions

    func validate() throws {
        if all && !ids.isEmpty { throw ValidationError("name session ids or --all, not both") }
        if !all && ids.isEmpty { throw ValidationError("name at least one session id, or --all") }
    }

    func run() async throws {
        let client = try options.client()
        var results: [Any] = []
        var failure: APIClient.Failure?
        var ids = ids
        if all {
            try await runClient { () throws(APIClient.Failure) in
                ids = try await client.send(.GET, "/api/sessions").decode(SessionListWire.self).sessions.map(\.sessionID)
            }
            if ids.isEmpty && !options.json { print("no live sessions") }
        }
        for id in ids {
            do throws(APIClient.Failure) {
                let reply = try await client.send(.DELETE, "/api/sessions/\(Self.escape(id))")
                let result = try reply.decode(EndResultJSON.self)
                // --json prints the server's answer as it came.
                results.append((try? JSONSerialization.jsonObject(with: reply.body)) ?? [String: String]())
                if !options.json { print("\(id): \(result.outcome) in \(result.durationMS) ms") }
            } catch {
                if case .unreachable = error { try await runClient { () throws(APIClient.Failure) in throw error } }
                if all, case .refused(404, _, _) = error {
                    // Listed a moment ago, gone by itself since: what --all asked for.
                    results.append(["session_id": id, "outcome": "gone"])
                    if !options.json { print("\(id): already gone") }
                    continue
                }
                // For a script: the server's own message and status, without the CLI's hints.
                if case .refused(let status, let message, _) = error {
                    results.append(["session_id": id, "error": message, "status": status] as [String: Any])
                } else {
                    results.append(["session_id": id, "error": "\(error)"])
                }
                if !options.json { FileHandle.standardError.write(Data("corral: \(id): \(error)\n".utf8)) }
                failure = error
            }
        }
        if options.json, let data = try? JSONSerialization.data(withJSONObject: results) { printJSON(data) }
        if let failure { throw ExitCode(failure.exitCode) }
    }

    static func escape(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? id
    }
}

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a session's processes as a tree.",
        discussion: """
            Every process of the session, including those that left its process group.

            Examples:
              corral inspect call-42
              corral inspect call-42 --json
            """
    )

    @Argument(help: "The session id.")
    var id: String

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        try await runClient { () throws(APIClient.Failure) in
            let reply = try await client.send(.GET, "/api/debug/session/\(End.escape(id))/processes")
            if options.json { return printJSON(reply.body) }
            let report = try reply.decode(ProcessReportWire.self)
            print("session \(id): pid \(report.pid ?? 0), pgid \(report.pgid ?? 0), leader alive: \(report.isProcessAlive), group alive: \(report.isGroupAlive)")
            print(ProcessTree(report.childProcesses, sessionPGID: report.containment == "pid-namespace" ? nil : report.pgid ?? 0).rendered)
            for error in report.errors { print("! \(Formatting.printable(error))") }
        }
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a session's log (its agent's stdout and stderr).",
        discussion: """
            Logs outlive their sessions (log_retention_seconds). On a terminal, control \
            characters an agent wrote (escape sequences, carriage returns) are shown escaped \
            (\\x1b), as `inspect` shows names; piped, or with --raw, the log is written as it is.

            Examples:
              corral logs call-42
              corral logs call-42 --tail 20 --follow
            """
    )

    @Argument(help: "The session id.")
    var id: String

    @Option(parsing: .unconditional, help: "How many of the last lines to print.")
    var tail = 100

    @Flag(help: "Keep printing what the agent writes until its session ends.")
    var follow = false

    @Flag(help: "Write the log as it is, control characters and all, also to a terminal.")
    var raw = false

    @OptionGroup var options: ClientOptions

    func validate() throws {
        if tail < 0 { throw ValidationError("--tail: must be 0 or more") }
    }

    func run() async throws {
        let client = try options.client()
        let id = id
        try await runClient { () throws(APIClient.Failure) in
            // With --json, one object per line of the log (JSON Lines, followed too); a line the
            // log ends without a newline is the last.
            var pending: [UInt8] = []
            // An agent's escape sequences must not reach the operator's terminal as commands.
            let escaping = !options.json && !raw && isatty(STDOUT_FILENO) == 1
            try await client.stream("/api/sessions/\(End.escape(id))/logs?tail=\(tail)&follow=\(follow)") { chunk in
                if escaping {
                    pending += chunk.readableBytesView
                    let whole = Formatting.wholeCharacters(pending)
                    Self.printEscaped(pending[..<whole])
                    pending.removeFirst(whole)
                    return
                }
                guard options.json else { return FileHandle.standardOutput.write(Data(buffer: chunk)) }
                // Only the new bytes are searched, and what was printed is dropped once a chunk.
                let searched = pending.count
                pending += chunk.readableBytesView
                var lineStart = 0
                var index = searched
                while let newline = pending[index...].firstIndex(of: UInt8(ascii: "\n")) {
                    Self.printLine(pending[lineStart..<newline], of: id)
                    lineStart = newline + 1
                    index = lineStart
                }
                pending.removeFirst(lineStart)
            }
            if !pending.isEmpty { escaping ? Self.printEscaped(pending[...]) : Self.printLine(pending[...], of: id) }
        }
    }

    static func printEscaped(_ bytes: ArraySlice<UInt8>) {
        FileHandle.standardOutput.write(Data(Formatting.printable(String(decoding: bytes, as: UTF8.self), keepingLines: true).utf8))
    }

    static func printLine(_ bytes: ArraySlice<UInt8>, of id: String) {
        let object: [String: Any] = ["session_id": id, "line": String(decoding: bytes, as: UTF8.self)]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        print(String(decoding: data, as: UTF8.self))
    }
}
