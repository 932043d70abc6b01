import CorralPlatform
import Logging
import CorralStore

/// Log lines about one session: what names it (its id, agent, pid and group) goes with each line
/// as the line's own metadata, rendered once when the line is written. A `Logger` made to carry
/// those names, one metadata key at a time, had swift-log's `StreamLogHandler` render all of its
/// metadata again at every key: four times for a line written once (a spaced start's step that
/// logs "agent spawned" went from 91-96 to 81-89 µs).
struct SessionLog {
    let logger: Logger
    let names: Logger.Metadata

    func log(
        level: Logger.Level, _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        logger.log(
            level: level, message(), metadata: names.merging(metadata() ?? [:]) { _, explicit in explicit }, file: file, function: function, line: line
        )
    }

    func debug(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .debug, message(), metadata: metadata(), file: file, function: function, line: line)
    }

    func info(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .info, message(), metadata: metadata(), file: file, function: function, line: line)
    }

    func notice(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .notice, message(), metadata: metadata(), file: file, function: function, line: line)
    }

    func warning(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .warning, message(), metadata: metadata(), file: file, function: function, line: line)
    }

    func error(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil, file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(level: .error, message(), metadata: metadata(), file: file, function: function, line: line)
    }
}

extension Logger {
    /// Lines that name the session.
    func about(_ record: SessionRecord) -> SessionLog {
        var names: Logger.Metadata = [LogKey.session: "\(record.id)", LogKey.agent: "\(record.agent)"]
        if let pid = record.pid { names[LogKey.pid] = "\(pid)" }
        if let pgid = record.pgid { names[LogKey.pgid] = "\(pgid)" }
        return SessionLog(logger: self, names: names)
    }

    /// Lines that name a session known only by its id (a record being removed).
    func about(_ id: SessionID) -> SessionLog {
        SessionLog(logger: self, names: [LogKey.session: "\(id)"])
    }
}
