import Foundation

/// Turns a profile and a session into what the spawner runs: the program's absolute path and the
/// complete environment.
enum AgentCommand {
    /// Variables of corral's own environment that agents never inherit: corral's configuration
    /// and secrets, and the service manager's protocol variables meant for corral itself.
    static func isWithheld(_ name: String) -> Bool {
        name.hasPrefix("CORRAL_") || name == "SESSION_TIMEOUT"
            || ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_PID", "WATCHDOG_USEC", "INVOCATION_ID"].contains(name)
    }

    static func environment(
        inherited: [String: String],
        profile: AgentProfile,
        agent: String,
        record: SessionRecord,
        instanceID: String,
        notifySocket: String?,
        credentials: [String: String] = [:],
        assignFD: Int32? = nil
    ) -> [String] {
        var variables = inherited.filter { !isWithheld($0.key) }
        variables.merge(profile.environment) { _, profileValue in profileValue }
        variables["CORRAL_SESSION_ID"] = record.id.rawValue
        variables["CORRAL_AGENT"] = agent
        variables["CORRAL_INSTANCE_ID"] = instanceID
        let metadata = (try? JSONSerialization.data(withJSONObject: record.metadata, options: [.sortedKeys])) ?? Data("{}".utf8)
        variables["CORRAL_METADATA"] = String(decoding: metadata, as: UTF8.self)
        // A prewarmed agent always says when it is loaded, whatever the profile's `ready`.
        if profile.readiness == .notify || assignFD != nil, let notifySocket {
            variables["NOTIFY_SOCKET"] = notifySocket
        }
        if let assignFD { variables["CORRAL_ASSIGN_FD"] = String(assignFD) }
        variables.merge(credentials) { _, credential in credential }
        return variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// Where a program is looked up when the agent has no PATH.
    static let defaultSearchPath = "/usr/local/bin:/usr/bin:/bin"

    /// The absolute path of `program`: as given if it contains a "/", else the first executable
    /// match in `searchPath` (the agent's PATH).
    static func resolve(_ program: String, workingDirectory: String?, searchPath: String?) -> String? {
        if program.contains("/") {
            let base = workingDirectory ?? FileManager.default.currentDirectoryPath
            let path = program.hasPrefix("/") ? program : base + "/" + program
            return access(path, X_OK) == 0 ? path : nil
        }
        for directory in (searchPath ?? defaultSearchPath).split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            var info = stat()
            if access(candidate, X_OK) == 0, stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                return candidate.hasPrefix("/") ? candidate : FileManager.default.currentDirectoryPath + "/" + candidate
            }
        }
        return nil
    }
}
