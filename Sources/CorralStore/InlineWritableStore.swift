import CorralPlatform

/// A store whose writes take tens of microseconds on the caller's own thread (SQLite on a local
/// disk in WAL mode, no fsync per commit). The supervisor writes to it where it is, which costs
/// less than handing a write to another thread and being woken with the answer: with every
/// thread asleep between spaced calls, each hand-over is a wake-up.
public protocol InlineWritableStore: SessionStore {
    /// `insert`, on the caller's thread.
    func insertNow(_ record: SessionRecord) throws(CorralError)
    /// `update`, on the caller's thread.
    func updateNow(_ record: SessionRecord) throws(CorralError)
    /// `delete`, on the caller's thread.
    func deleteNow(_ id: SessionID) throws(CorralError)
}
