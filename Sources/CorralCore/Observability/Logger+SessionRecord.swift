import CorralPlatform
import Logging
import CorralStore

extension Logger {
    /// A logger whose lines all name the session. Key by key: the handler's `metadata` comes back
    /// escaped (`EscapingLogHandler`), and set again it would be escaped twice.
    func about(_ record: SessionRecord) -> Logger {
        var logger = about(record.id)
        logger[metadataKey: LogKey.agent] = "\(record.agent)"
        if let pid = record.pid { logger[metadataKey: LogKey.pid] = "\(pid)" }
        if let pgid = record.pgid { logger[metadataKey: LogKey.pgid] = "\(pgid)" }
        return logger
    }
}
