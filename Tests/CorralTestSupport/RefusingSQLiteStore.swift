import CorralCore
import CorralPlatform
import CorralStore
import Foundation
import Synchronization

/// A real SQLite store whose writes can be refused on demand, on the supervisor's inline path
/// (`InlineWritableStore`) and the queued one alike; it counts the writes made inline, so a test
/// can tell which path a write took.
public final class RefusingSQLiteStore: InlineWritableStore {
    public enum Write: String, Sendable, Hashable {
        case insert, update, delete
    }

    public let sqlite: SQLiteStore
    private let directory: String
    private let refused = Mutex<Set<Write>>([])
    private let inline = Mutex<[Write: Int]>([:])

    public init() throws {
        directory = NSTemporaryDirectory() + "corral-refusing-store-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        sqlite = try SQLiteStore(path: directory + "/corral.db")
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// From now on, `writes` throw a store error.
    public func refuse(_ writes: Write...) { refused.withLock { $0.formUnion(writes) } }

    /// Every write works again.
    public func accept() { refused.withLock { $0 = [] } }

    /// How many `write`s were made on the caller's thread.
    public func inlineCount(_ write: Write) -> Int { inline.withLock { $0[write, default: 0] } }

    private func check(_ write: Write) throws(CorralError) {
        if refused.withLock({ $0.contains(write) }) {
            throw CorralError(.store, "the test store refuses \(write.rawValue) (RefusingSQLiteStore)")
        }
    }

    private func made(_ write: Write) { inline.withLock { $0[write, default: 0] += 1 } }

    public func insertNow(_ record: SessionRecord) throws(CorralError) {
        try check(.insert)
        made(.insert)
        try sqlite.insertNow(record)
    }

    public func updateNow(_ record: SessionRecord) throws(CorralError) {
        try check(.update)
        made(.update)
        try sqlite.updateNow(record)
    }

    public func deleteNow(_ id: SessionID) throws(CorralError) {
        try check(.delete)
        made(.delete)
        try sqlite.deleteNow(id)
    }

    public func insert(_ record: SessionRecord) async throws(CorralError) {
        try check(.insert)
        try await sqlite.insert(record)
    }

    public func update(_ record: SessionRecord) async throws(CorralError) {
        try check(.update)
        try await sqlite.update(record)
    }

    public func delete(_ id: SessionID) async throws(CorralError) {
        try check(.delete)
        try await sqlite.delete(id)
    }

    public func replace(_ oldID: SessionID, with record: SessionRecord) async throws(CorralError) {
        try check(.insert)
        try await sqlite.replace(oldID, with: record)
    }

    public func record(_ id: SessionID) async throws(CorralError) -> SessionRecord? { try await sqlite.record(id) }

    public func allRecords() async throws(CorralError) -> [SessionRecord] { try await sqlite.allRecords() }

    public func ping() async throws(CorralError) { try await sqlite.ping() }
}
