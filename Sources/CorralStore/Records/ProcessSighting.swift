/// A process of a session seen outside its process group (process-group containment), by pid
/// and start time: kept in the record so that one which has lost every other trace of its
/// session (group, kernel session, parent, environment) is still known to a restarted corral.
public struct ProcessSighting: Sendable, Hashable, Comparable, Codable {
    public let pid: Int32
    /// Field 22 of `/proc/PID/stat`: with the pid, the process's identity.
    public let startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.pid, lhs.startTime) < (rhs.pid, rhs.startTime) }

    /// How many a record keeps: a session that leaves its group more often than this is still
    /// followed in memory, and its record stays small.
    public static let recordedLimit = 256

    /// `pid:start,pid:start`, as the stores keep them.
    static func text(_ sightings: [ProcessSighting]) -> String? {
        sightings.isEmpty ? nil : sightings.map { "\($0.pid):\($0.startTime)" }.joined(separator: ",")
    }

    /// Nil if any part is not a positive pid and a start time.
    static func list(_ text: String) -> [ProcessSighting]? {
        var sightings: [ProcessSighting] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let numbers = part.split(separator: ":", omittingEmptySubsequences: false)
            guard numbers.count == 2, let pid = Int32(numbers[0]), pid > 0, let start = UInt64(numbers[1]) else { return nil }
            sightings.append(ProcessSighting(pid: pid, startTime: start))
        }
        return sightings.count <= recordedLimit ? sightings : nil
    }
}
