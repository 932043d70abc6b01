import Foundation
import CorralConfiguration
import CorralStore

/// Turns a profile and a session into what the spawner runs: the program's absolute path and the
/// complete environment.
package enum AgentCommand {
    /// Variables of corral's own environment that agents never inherit: corral's configuration
    /// and secrets, and the service manager's protocol variables meant for corral itself.
    static func isWithheld(_ name: String) -> Bool {
        name.hasPrefix("CORRAL_") || name == "SESSION_TIMEOUT"
            || ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_PID", "WATCHDOG_USEC", "INVOCATION_ID"].contains(name)
    }

    /// The agent's environment as a map. A template (`templateFD`) gets `CORRAL_TEMPLATE=1` and
    /// `CORRAL_TEMPLATE_FD`, always a notify socket, and no `CORRAL_INSTANCE_ID`: its forks show
    /// its environment in `/proc/PID/environ`, and must not look like processes of the template's
    /// own record (they are known by their cgroups).
    static func variables(
        inherited: [String: String],
        profile: AgentProfile,
        agent: String,
        record: SessionRecord,
        instanceID: String,
        notifySocket: String?,
        credentials: [String: String] = [:],
        assignFD: Int32? = nil,
        templateFD: Int32? = nil
    ) -> [String: String] {
        var variables = inherited.filter { !isWithheld($0.key) }
        variables.merge(profile.environment) { _, profileValue in profileValue }
        variables.merge(session(record, agent: agent, credentials: [:])) { _, own in own }
        variables["CORRAL_INSTANCE_ID"] = templateFD == nil ? instanceID : nil
        // A prewarmed agent (and a template) always says when it is loaded, whatever the
        // profile's `ready`.
        if profile.readiness == .notify || assignFD != nil || templateFD != nil, let notifySocket {
            variables["NOTIFY_SOCKET"] = notifySocket
        }
        if let assignFD { variables["CORRAL_ASSIGN_FD"] = String(assignFD) }
        if let templateFD {
            variables["CORRAL_TEMPLATE"] = "1"
            variables["CORRAL_TEMPLATE_FD"] = String(templateFD)
        }
        variables.merge(credentials) { _, credential in credential }
        return variables
    }

    /// What is the session's own in an agent's environment: its id, agent and metadata, then the
    /// credentials and the request's variables (a job's room token). A cold agent gets them on
    /// top of its profile's environment; a prewarmed one is handed them in its assignment.
    static func session(_ record: SessionRecord, agent: String, credentials: [String: String]) -> [String: String] {
        let metadata = (try? JSONSerialization.data(withJSONObject: record.metadata, options: [.sortedKeys])) ?? Data("{}".utf8)
        let own = ["CORRAL_SESSION_ID": record.id.rawValue, "CORRAL_AGENT": agent, "CORRAL_METADATA": String(decoding: metadata, as: UTF8.self)]
        return own.merging(credentials) { _, credential in credential }
    }

    /// Where a program is looked up when the agent has no PATH.
    package static let defaultSearchPath = "/usr/local/bin:/usr/bin:/bin"

    /// The absolute path of `program`: as given if it contains a "/", else the first executable
    /// match in `searchPath` (the agent's PATH).
    package static func resolve(_ program: String, workingDirectory: String?, searchPath: String?) -> String? {
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
