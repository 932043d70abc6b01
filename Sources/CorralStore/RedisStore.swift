import CorralPlatform
import CorralSecurity
import Foundation
import Logging
import RedisClient
import Synchronization

/// Records in Redis, for several corral nodes sharing the work. The layout:
/// - `session:{id}`: a hash with the record (`agentPid`, `agentPgid`, `node`, …);
/// - `agent:{id}:pid`: the leader's pid;
/// - `corral:sessions`: the set of session ids (so listing needs no SCAN);
/// both per-session keys expire with the session (its remaining time plus `expiryMargin`), the
/// expiry refreshed with every change. Multi-key changes are atomic (a Lua script for the
/// insert-if-absent, MULTI/EXEC for the rest).
///
/// Redis is shared with the rest of a platform, so whoever can write to it could write a record.
/// Each hash carries `mac`, the cluster secret's signature of its key and every other field: a
/// hash whose signature does not verify is not read as a record (it is logged once, and never
/// adopted, listed or acted on).
public final class RedisStore: SessionStore {
    public let client: RedisClient
    public let secret: ClusterSecret
    /// This node (`node_id`): it changes and deletes only records that are its own or nobody's.
    let node: String?
    let logger: Logger
    /// Kept past the deadline, so that a record outlives the end of its session.
    let expiryMargin: TimeInterval = 300
    static let index = "corral:sessions"
    static let signatureField = "mac"
    /// The unverified hashes already logged (by key and signature).
    private let reported = FirstSighting()
    /// What each of this node's records held as last written (or found as signed by the
    /// partial-loss look): what that look expects to find, without signing every record at every
    /// beat. Not from other reads: one made while Redis held an older copy would make that copy
    /// the one expected.
    let signatures = Mutex<[SessionID: Expected]>([:])
    /// Looks made so far (`missingRecords`), to take the records' whole hashes in turn.
    let looks = Mutex<UInt64>(0)
    /// This node's records found at the last look in another form than expected but reading as
    /// the record: written again if so found again (`missingRecords`).
    let settling = Mutex<Set<SessionID>>([])

    public init(client: RedisClient, secret: ClusterSecret, node: String? = nil, logger: Logger) {
        self.client = client
        self.secret = secret
        self.node = node
        self.logger = logger
    }

    static func sessionKey(_ id: SessionID) -> String { "session:\(id.rawValue)" }
    static func pidKey(_ id: SessionID) -> String { "agent:\(id.rawValue):pid" }

    private static let insertScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], unpack(ARGV, 4))
        redis.call('EXPIRE', KEYS[1], ARGV[1])
        if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1]) end
        redis.call('SADD', KEYS[3], ARGV[3])
        return 1
        """

    public func insert(_ record: SessionRecord) async throws(CorralError) {
        let keys = [Self.sessionKey(record.id), Self.pidKey(record.id), Self.index]
        let fields = signedFields(record)
        let arguments = placement(record) + fields
        let answer = try await run("insert \(record.id)") { () throws(RedisError) in
            try await client.send(["EVAL", Self.insertScript, String(keys.count)] + keys + arguments)
        }
        guard answer.integer == 1 else { throw CorralError.sessionIDInUse(record.id) }
        remember(fields, of: record.id)
    }

    /// What every write script takes before the fields: the keys' expiry, the leader's pid (empty
    /// for none) and the id the index lists.
    private func placement(_ record: SessionRecord) -> [String] {
        [String(ttl(record)), record.pid.map(String.init) ?? "", record.id.rawValue]
    }

    /// What the hash just written holds, or nothing once deleted.
    private func remember(_ fields: [String]?, of id: SessionID) {
        let expected = fields.map(Expected.init)
        signatures.withLock { $0[id] = expected }
    }

    /// A hash that names another node than ARGV[1] is that node's: a record this node lost
    /// (Redis restarted empty, a key evicted) may have been taken by another node's start of the
    /// same id before this node wrote it again. `0` then, and nothing is changed. (An empty
    /// ARGV[1]: a store that is no node's, as in tools and tests, changes any record.)
    private static let ownerCheck = """
        local owner = redis.call('HGET', KEYS[1], 'node')
        if owner and ARGV[1] ~= '' and owner ~= ARGV[1] then return 0 end
        """

    private static let updateScript = ownerCheck + "\n" + """
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], unpack(ARGV, 5))
        redis.call('EXPIRE', KEYS[1], ARGV[2])
        redis.call('SADD', KEYS[3], ARGV[4])
        if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2]) else redis.call('DEL', KEYS[2]) end
        return 1
        """

    public func update(_ record: SessionRecord) async throws(CorralError) {
        let keys = [Self.sessionKey(record.id), Self.pidKey(record.id), Self.index]
        let fields = signedFields(record)
        let arguments = placement(record) + fields
        try await ownerChecked("update \(record.id)", record.id, script: Self.updateScript, keys: keys, arguments: arguments)
        remember(fields, of: record.id)
    }

    /// Runs a script that begins with `ownerCheck`. A hash that names another node but whose
    /// signature does not verify is nobody's (written by someone without the cluster secret):
    /// it is written over, as it was before the check, rather than leave the session unrecorded.
    private func ownerChecked(_ action: String, _ id: SessionID, script: String, keys: [String], arguments: [String]) async throws(CorralError) {
        for owner in [node ?? "", ""] {
            let answer = try await run(action) { () throws(RedisError) in
                try await client.send(["EVAL", script, String(keys.count)] + keys + [owner] + arguments)
            }
            if answer.integer == 1 { return }
            guard !owner.isEmpty, case .unverified = try await stored(id) else { break }
        }
        throw Self.anotherNodes(id)
    }

    private static let replaceScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('DEL', KEYS[4], KEYS[5])
        redis.call('SREM', KEYS[3], ARGV[4])
        redis.call('HSET', KEYS[1], unpack(ARGV, 5))
        redis.call('EXPIRE', KEYS[1], ARGV[1])
        if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1]) end
        redis.call('SADD', KEYS[3], ARGV[3])
        return 1
        """

    public func replace(_ oldID: SessionID, with record: SessionRecord) async throws(CorralError) {
        let keys = [Self.sessionKey(record.id), Self.pidKey(record.id), Self.index, Self.sessionKey(oldID), Self.pidKey(oldID)]
        let fields = signedFields(record)
        let arguments = placement(record) + [oldID.rawValue] + fields
        let answer = try await run("record \(record.id) in place of \(oldID)") { () throws(RedisError) in
            try await client.send(["EVAL", Self.replaceScript, String(keys.count)] + keys + arguments)
        }
        guard answer.integer == 1 else { throw CorralError.sessionIDInUse(record.id) }
        remember(nil, of: oldID)
        remember(fields, of: record.id)
    }

    private static let deleteScript = ownerCheck + "\n" + """
        redis.call('DEL', KEYS[1], KEYS[2])
        redis.call('SREM', KEYS[3], ARGV[2])
        return 1
        """

    public func delete(_ id: SessionID) async throws(CorralError) {
        let keys = [Self.sessionKey(id), Self.pidKey(id), Self.index]
        try await ownerChecked("delete \(id)", id, script: Self.deleteScript, keys: keys, arguments: [id.rawValue])
        remember(nil, of: id)
    }

    private static func anotherNodes(_ id: SessionID) -> CorralError {
        CorralError(.conflict, "the store's record of session '\(id)' is another node's: this node's record of it was lost, and another node started a session with that id; that record is left as it is")
    }

    public func record(_ id: SessionID) async throws(CorralError) -> SessionRecord? {
        if case .verified(let record) = try await stored(id) { return record }
        return nil
    }

    /// What Redis holds under a session id: nothing, a record this node can trust, or a hash
    /// whose signature does not verify (with the node it claims, to say which node's secret
    /// differs).
    public enum Stored: Sendable {
        case missing
        case verified(SessionRecord)
        case unverified(claimedNode: String?)
    }

    public func stored(_ id: SessionID) async throws(CorralError) -> Stored {
        let answer = try await run("read \(id)") { () throws(RedisError) in try await client.send(["HGETALL", Self.sessionKey(id)]) }
        return read(answer, id: id)
    }

    public func allRecords() async throws(CorralError) -> [SessionRecord] {
        try await records(Self.sessionIDs(in: try await indexMembers()))
    }

    public func records(excluding known: Set<SessionID>) async throws(CorralError) -> [SessionRecord] {
        try await records(Self.sessionIDs(in: try await indexMembers()).filter { !known.contains($0) })
    }

    private func indexMembers() async throws(CorralError) -> RESPValue {
        try await run("list sessions") { () throws(RedisError) in try await client.send(["SMEMBERS", Self.index]) }
    }

    private static func sessionIDs(in members: RESPValue) -> [SessionID] {
        (members.array ?? []).compactMap { $0.string.flatMap(SessionID.init) }
    }

    /// What Redis holds under each id, read in one pipeline.
    func stored(_ ids: [SessionID]) async throws(CorralError) -> [Stored] {
        guard !ids.isEmpty else { return [] }
        let answers = try await run("read sessions") { () throws(RedisError) in
            try await client.pipeline(ids.map { ["HGETALL", Self.sessionKey($0)] })
        }
        return zip(ids, answers).map { read($1, id: $0) }
    }

    private func records(_ ids: [SessionID]) async throws(CorralError) -> [SessionRecord] {
        var records: [SessionRecord] = []
        var expired: [String] = []
        for (id, stored) in zip(ids, try await stored(ids)) {
            switch stored {
            case .verified(let record): records.append(record)
            case .missing: expired.append(id.rawValue)
            case .unverified: break
            }
        }
        // Hashes that expired leave their id in the index: tidy it.
        if !expired.isEmpty { _ = try? await client.send(["SREM", Self.index] + expired) }
        return records.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// A write, as a start's would be: a Redis out of memory (`noeviction`), or refusing writes
    /// after a failed save (`MISCONF`) or for want of replicas, still answers PING.
    public func ping() async throws(CorralError) {
        _ = try await run("write") { () throws(RedisError) in
            try await client.send(["SET", Self.writeProbe, String(Int(Date().timeIntervalSince1970)), "EX", "60"])
        }
    }

    /// The key `ping` writes (for a minute).
    static let writeProbe = "corral:write-probe"

    public var canLoseRecords: Bool { true }

    private func ttl(_ record: SessionRecord) -> Int {
        max(1, Int((record.expiresAt.timeIntervalSinceNow + expiryMargin).rounded(.up)))
    }

    func run<T>(_ action: String, _ body: () async throws(RedisError) -> T) async throws(CorralError) -> T {
        do {
            return try await body()
        } catch {
            throw CorralError(.store, "the Redis store could not \(action): \(error)")
        }
    }

    /// The hash's fields and values, as `HSET` takes them; a field without a value is left out.
    static func fields(_ record: SessionRecord) -> [String] {
        SessionRecord.fields.flatMap { field -> [String] in
            switch field.get(record) {
            case .integer(let bits) where field.kind == .unsigned: [field.redisKey, String(UInt64(bitPattern: bits))]
            case .text(let text): [field.redisKey, text]
            case .integer(let number): [field.redisKey, String(number)]
            case .real(let number): [field.redisKey, String(number)]
            case .bool(let flag): [field.redisKey, flag ? "1" : "0"]
            case .null: []
            }
        }
    }

    /// The fields to write, with their signature.
    package func signedFields(_ record: SessionRecord) -> [String] {
        let fields = Self.fields(record)
        let hash = stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0], fields[$0 + 1]) }
        return fields + [Self.signatureField, secret.sign(Self.signed(hash, key: Self.sessionKey(record.id)))]
    }

    /// What the signature covers: the hash's key (a hash copied under another id does not
    /// verify) and every field but the signature, in name order (HGETALL answers in any order).
    private static func signed(_ hash: [(key: String, value: String)], key: String) -> [String] {
        ["corral-session-v1", key] + hash.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
    }

    /// An HGETALL answer for `id`, checked: its signature, and that it is the record of `id`.
    private func read(_ answer: RESPValue, id: SessionID) -> Stored {
        guard let items = answer.array, !items.isEmpty else { return .missing }
        var hash: [String: String] = [:]
        var index = 0
        while index + 1 < items.count {
            if let key = items[index].string, let value = items[index + 1].string { hash[key] = value }
            index += 2
        }
        let key = Self.sessionKey(id)
        let given = hash.removeValue(forKey: Self.signatureField) ?? ""
        guard secret.verify(given, Self.signed(hash.map { ($0.key, $0.value) }, key: key)),
            let record = Self.record(from: hash), record.id == id
        else {
            reportUnverified(key: key, signature: given, claimedNode: hash["node"])
            return .unverified(claimedNode: hash["node"])
        }
        return .verified(record)
    }

    private func reportUnverified(key: String, signature: String, claimedNode: String?) {
        guard reported.isFirst(key + " " + signature) else { return }
        var advice = "it is ignored: not listed, adopted or acted on"
        if !secret.isShared { advice += "; if another corral node wrote it, \(ClusterSecret.keyHint)" }
        logger.warning(
            "a session record in Redis does not carry a valid signature of this node's cluster secret; \(advice)",
            metadata: ["key": "\(key)", "claimed_node": "\(claimedNode ?? "none")"]
        )
    }

    /// A record from a hash's fields; nil for an unreadable one.
    static func record(from hash: [String: String]) -> SessionRecord? {
        SessionRecord { field in
            guard let text = hash[field.redisKey] else { return .null }
            switch field.kind {
            case .text, .stringMap: return .text(text)
            case .integer: return Int64(text).map(StoredValue.integer) ?? .text(text)
            case .unsigned: return UInt64(text).map { .integer(Int64(bitPattern: $0)) } ?? .text(text)
            case .bool: return .bool(text == "1")
            case .date: return Double(text).map(StoredValue.real) ?? .text(text)
            }
        }
    }
}
