import CorralPlatform
import CorralStore
/// What corral checks of a record read back from the store before it acts on it, whatever the
/// store: a record names a log file, a cgroup and processes, and the store may hold what someone
/// else wrote (a Redis shared with other programs). A record corral could not have written is
/// never adopted: its log is not served or rotated, its cgroup not killed, its pid not signalled.
struct StoredRecordCheck: Sendable {
    /// `data_dir/logs`: where every session log is made.
    let logsPath: String
    let containment: any Containment

    /// What is wrong with `record`, or nil if corral could have written it.
    func problem(with record: SessionRecord) -> String? {
        if !record.logPath.isEmpty, !isSessionLog(record.logPath) {
            return "its log \(record.logPath) is not a session log in \(logsPath)"
        }
        // One below another root, or read without cgroups (the configuration changed since),
        // is never acted on: the session is held by its process group, its leader known by its
        // tags (`Supervisor.verifiedLeader`).
        if let cgroup = record.cgroupPath, !containment.accepts(cgroupPath: cgroup), !SessionCgroup.isSessionShaped(cgroup) {
            return "its cgroup \(cgroup) is not a session cgroup"
        }
        // A template and its forks carry the template's environment, not a mark of their own:
        // only their cgroup tells them apart, and corral never makes one without it. Nor can it
        // hold one by a cgroup it does not act on (another root's, or none now).
        if record.pid != nil, record.start == .template || record.start == .fork {
            guard let cgroup = record.cgroupPath else { return "it is a \(record.start.rawValue) without a cgroup, which corral never starts" }
            if !containment.accepts(cgroupPath: cgroup) {
                return "it is a \(record.start.rawValue) whose cgroup \(cgroup) is not below this corral's cgroup root (forked sessions are told apart by their cgroup only, and do not outlive a change of containment or of cgroup_root)"
            }
        }
        // Sightings are of descendants, found outside the group: younger than the leader.
        if !record.sightings.isEmpty, record.containment != .processGroup || record.sightings.contains(where: { $0.startTime < (record.leaderStartTime ?? .max) }) {
            return "it names processes seen outside its process group that cannot be its agent's descendants"
        }
        return nil
    }

    /// A file directly in the logs directory, named as corral names logs.
    private func isSessionLog(_ path: String) -> Bool {
        guard path.hasPrefix(logsPath + "/") else { return false }
        let name = path.dropFirst(logsPath.count + 1)
        return name.hasSuffix(".log") && !name.hasPrefix(".") && !name.contains("/")
    }
}
