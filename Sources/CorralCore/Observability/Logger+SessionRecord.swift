import CorralPlatform
import Logging
import CorralStore

extension Logger {
    /// A logger whose lines all name the session. Its metadata is set in one go: each key set on
    /// its own copies the handler's metadata (and escapes it) once more.
    func about(_ record: SessionRecord) -> Logger {
        var metadata = handler.metadata
        metadata[LogKey.session] = "\(record.id)"
        metadata[LogKey.agent] = "\(record.agent)"
        if let pid = record.pid { metadata[LogKey.pid] = "\(pid)" }
        if let pgid = record.pgid { metadata[LogKey.pgid] = "\(pgid)" }
        var logger = self
        logger.handler.metadata = metadata
        return logger
    }
}
