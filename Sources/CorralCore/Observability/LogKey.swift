import Logging

/// Logger metadata keys, in one place so every line about a session uses the same names.
enum LogKey {
    static let session = "session"
    static let agent = "agent"
    static let pid = "pid"
    static let pgid = "pgid"
    static let groupLeader = "group_leader"
    static let reason = "reason"
    static let outcome = "outcome"
    static let durationMS = "duration_ms"
    static let exit = "exit"
    static let error = "error"
    static let containment = "containment"
}

extension Logger {
    /// A logger whose lines all name the session.
    func about(_ record: SessionRecord) -> Logger {
        var logger = about(record.id)
        logger[metadataKey: LogKey.agent] = "\(record.agent)"
        if let pid = record.pid { logger[metadataKey: LogKey.pid] = "\(pid)" }
        if let pgid = record.pgid { logger[metadataKey: LogKey.pgid] = "\(pgid)" }
        return logger
    }
}

extension Logger {
    /// A logger whose lines name a session known only by its id (a record being removed).
    func about(_ id: SessionID) -> Logger {
        var logger = self
        logger[metadataKey: LogKey.session] = "\(id)"
        return logger
    }
}
