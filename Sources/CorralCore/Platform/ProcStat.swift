/// The fields corral uses from `/proc/PID/stat`.
public struct ProcStat: Sendable, Equatable {
    public let pid: Int32
    /// The command name (`comm`), at most 15 bytes, may contain spaces and parentheses.
    public let name: String
    public let state: Character
    public let ppid: Int32
    public let pgid: Int32
    public let sid: Int32
    /// Start time in clock ticks after boot (field 22): with the pid, it identifies a process
    /// across pid reuse.
    public let startTime: UInt64

    public var isZombie: Bool { state == "Z" || state == "X" }

    /// Parses the contents of a stat file. The name is delimited by the first "(" and the
    /// *last* ")", since the name itself may contain ")".
    public init?(parsing text: Substring) {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close,
            let pid = Int32(text[..<open].trimmingSpaces)
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state); field N is fields[N - 3].
        guard fields.count >= 20, let state = fields[0].first,
            let ppid = Int32(fields[1]), let pgid = Int32(fields[2]), let sid = Int32(fields[3]),
            let start = UInt64(fields[19])
        else { return nil }
        self.pid = pid
        self.name = String(text[text.index(after: open)..<close])
        self.state = state
        self.ppid = ppid
        self.pgid = pgid
        self.sid = sid
        self.startTime = start
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var result = self
        while result.first == " " { result = result.dropFirst() }
        while result.last == " " || result.last == "\n" { result = result.dropLast() }
        return result
    }
}
