import Logging

/// Logger metadata keys, in one place so every line about a session uses the same names.
package enum LogKey {
    package static let session = "session"
    package static let agent = "agent"
    package static let pid = "pid"
    package static let pgid = "pgid"
    package static let groupLeader = "group_leader"
    package static let reason = "reason"
    package static let outcome = "outcome"
    package static let durationMS = "duration_ms"
    package static let exit = "exit"
    package static let error = "error"
    package static let containment = "containment"
}
