import CorralPlatform
import Logging
import CorralStore

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
