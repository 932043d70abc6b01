import CorralPlatform
import Foundation

/// One value of a stored field, in a form every store can hold.
public enum StoredValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case real(Double)
    case bool(Bool)
    case null
}

extension SessionRecord {
    /// One field of the record, declared once for every place that stores or shows it: its
    /// SQLite column (also its key in the API's `session_data`), its key in the Redis hash (the
    /// contract's camel case: `agentPid`, `agentPgid`), its kind, and how it is read from and
    /// written to the record. `SQLiteStore`, `RedisStore` and the inspection view all go
    /// through `SessionRecord.fields`.
    public struct Field: Sendable {
        public enum Kind: Sendable {
            case text, integer, bool
            /// An unsigned 64-bit number, carried as `.integer` with the same bits (SQLite's
            /// integers are signed); shown and kept in Redis as the unsigned value.
            case unsigned
            /// Seconds since 1970 in the stores, RFC 3339 in JSON.
            case date
            /// A string-to-string map, as JSON text in the stores.
            case stringMap
        }

        public let column: String
        public let redisKey: String
        /// The key in JSON (`session_data`), where it differs from the column.
        public let jsonKey: String
        public let kind: Kind
        /// A record without it cannot be read back.
        public let required: Bool
        public let get: @Sendable (SessionRecord) -> StoredValue
        /// Returns false if the value is not one the record can hold.
        public let set: @Sendable (inout SessionRecord, StoredValue) -> Bool

        init(
            _ column: String, redis: String, json: String? = nil, kind: Kind, required: Bool = false,
            get: @escaping @Sendable (SessionRecord) -> StoredValue, set: @escaping @Sendable (inout SessionRecord, StoredValue) -> Bool
        ) {
            self.column = column
            self.redisKey = redis
            self.jsonKey = json ?? column
            self.kind = kind
            self.required = required
            self.get = get
            self.set = set
        }
    }

    /// Every field, in column order.
    public static let fields: [Field] = [
        .text("id", redis: "id", json: "session_id", required: true, { $0.id.rawValue }) { record, text in
            SessionID(text).map { record.id = $0 } != nil
        },
        .text("agent", redis: "agent", required: true, \.agent) { record, text in
            record.agent = text
            return true
        },
        .text("status", redis: "status", required: true, \.status.rawValue) { record, text in
            SessionStatus(rawValue: text).map { record.status = $0 } != nil
        },
        .integer("pid", redis: "agentPid", { $0.pid.map(Int64.init) }) { record, value in
            record.pid = value.flatMap { Int32(exactly: $0) }
            return value == nil || record.pid != nil
        },
        .integer("pgid", redis: "agentPgid", { $0.pgid.map(Int64.init) }) { record, value in
            record.pgid = value.flatMap { Int32(exactly: $0) }
            return value == nil || record.pgid != nil
        },
        Field("is_group_leader", redis: "isGroupLeader", kind: .bool, required: true, get: { .bool($0.isGroupLeader) }) { record, value in
            guard case .bool(let flag) = value else { return false }
            record.isGroupLeader = flag
            return true
        },
        Field("leader_start_time", redis: "leaderStartTime", kind: .unsigned, get: { $0.leaderStartTime.map { .integer(Int64(bitPattern: $0)) } ?? .null }) {
            record, value in
            switch value {
            case .integer(let bits): record.leaderStartTime = UInt64(bitPattern: bits)
            case .null: record.leaderStartTime = nil
            default: return false
            }
            return true
        },
        .text("containment", redis: "containment", required: true, \.containment.rawValue) { record, text in
            ContainmentKind(rawValue: text).map { record.containment = $0 } != nil
        },
        .optionalText("cgroup_path", redis: "cgroupPath", \.cgroupPath) { $0.cgroupPath = $1 },
        .date("created_at", redis: "createdAt", required: true, { $0.createdAt }) { $0.createdAt = $1! },
        .date("expires_at", redis: "expiresAt", required: true, { $0.expiresAt }) { $0.expiresAt = $1! },
        .date("ready_at", redis: "readyAt", { $0.readyAt }) { $0.readyAt = $1 },
        Field("metadata", redis: "metadata", kind: .stringMap, required: true, get: { .text(Self.encode($0.metadata)) }) { record, value in
            guard case .text(let text) = value, let map = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)) else {
                return false
            }
            record.metadata = map
            return true
        },
        .text("log_path", redis: "logPath", required: true, \.logPath) { record, text in
            record.logPath = text
            return true
        },
        .optionalText("node", redis: "node", \.node) { $0.node = $1 },
        .optionalText("livekit_room", redis: "livekitRoom", \.livekitRoom) { $0.livekitRoom = $1 },
        .optionalText("livekit_identity", redis: "livekitIdentity", \.livekitIdentity) { $0.livekitIdentity = $1 },
        // Records written before prewarming have none: they were cold.
        .optionalText("start_path", redis: "start", { $0.start.rawValue }) { record, text in
            record.start = text.flatMap(StartPath.init(rawValue:)) ?? .cold
        },
        .optionalText("process_tag", redis: "processTag", { $0.processTag?.rawValue }) { record, text in
            record.processTag = text.flatMap(SessionID.init)
        },
        .optionalText("livekit_job_id", redis: "livekitJobId", \.livekitJobID) { $0.livekitJobID = $1 },
        .optionalText("livekit_dispatch_id", redis: "livekitDispatchId", \.livekitDispatchID) { $0.livekitDispatchID = $1 },
        .optionalText("livekit_agent_name", redis: "livekitAgentName", \.livekitAgentName) { $0.livekitAgentName = $1 },
        Field("sightings", redis: "sightings", kind: .text, get: { ProcessSighting.text($0.sightings).map(StoredValue.text) ?? .null }) { record, value in
            switch value {
            case .text(let text):
                guard let sightings = ProcessSighting.list(text) else { return false }
                record.sightings = sightings
            case .null: record.sightings = []
            default: return false
            }
            return true
        },
    ]

    /// The record the fields describe; nil if a required one is missing or a value is not
    /// valid (a row written by a newer corral, or edited by hand).
    public init?(fields value: (Field) -> StoredValue) {
        self.init(id: SessionID("placeholder")!, agent: "", createdAt: .distantPast, expiresAt: .distantPast, logPath: "")
        for field in Self.fields {
            let stored = value(field)
            if stored == .null {
                guard !field.required else { return nil }
            }
            guard field.set(&self, stored) else { return nil }
        }
    }

    /// The same text for the same metadata, whenever it is encoded: keys in order. (Unsorted, two
    /// encodings of one record could differ, a dictionary's order being its own, and Redis's copy
    /// of a record then never matched the one this node expected: read again at every beat.)
    static func encode(_ metadata: [String: String]) -> String {
        // Most sessions have none, and a record is written several times in a session's life.
        guard !metadata.isEmpty else { return "{}" }
        return String(decoding: (try? sortedKeys.encode(metadata)) ?? Data("{}".utf8), as: UTF8.self)
    }

    private static let sortedKeys = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()
}

extension SessionRecord.Field {
    static func text(
        _ column: String, redis: String, json: String? = nil, required: Bool = false,
        _ get: @escaping @Sendable (SessionRecord) -> String, _ assign: @escaping @Sendable (inout SessionRecord, String) -> Bool
    ) -> Self {
        Self(column, redis: redis, json: json, kind: .text, required: required, get: { .text(get($0)) }) { record, value in
            guard case .text(let text) = value else { return false }
            return assign(&record, text)
        }
    }

    static func optionalText(
        _ column: String, redis: String, json: String? = nil,
        _ get: @escaping @Sendable (SessionRecord) -> String?, _ assign: @escaping @Sendable (inout SessionRecord, String?) -> Void
    ) -> Self {
        Self(column, redis: redis, json: json, kind: .text, get: { get($0).map(StoredValue.text) ?? .null }) { record, value in
            switch value {
            case .text(let text): assign(&record, text)
            case .null: assign(&record, nil)
            default: return false
            }
            return true
        }
    }

    static func integer(
        _ column: String, redis: String, _ get: @escaping @Sendable (SessionRecord) -> Int64?,
        _ assign: @escaping @Sendable (inout SessionRecord, Int64?) -> Bool
    ) -> Self {
        Self(column, redis: redis, kind: .integer, get: { get($0).map(StoredValue.integer) ?? .null }) { record, value in
            switch value {
            case .integer(let number): assign(&record, number)
            case .null: assign(&record, nil)
            default: false
            }
        }
    }

    static func date(
        _ column: String, redis: String, required: Bool = false, _ get: @escaping @Sendable (SessionRecord) -> Date?,
        _ assign: @escaping @Sendable (inout SessionRecord, Date?) -> Void
    ) -> Self {
        Self(column, redis: redis, kind: .date, required: required, get: { get($0).map { .real($0.timeIntervalSince1970) } ?? .null }) { record, value in
            switch value {
            case .real(let seconds): assign(&record, Date(timeIntervalSince1970: seconds))
            case .integer(let seconds): assign(&record, Date(timeIntervalSince1970: Double(seconds)))
            case .null: assign(&record, nil)
            default: return false
            }
            return true
        }
    }
}
