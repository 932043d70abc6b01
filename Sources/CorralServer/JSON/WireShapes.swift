/// The API's answers as a client reads them (the `corral` CLI's commands): declared once, here, so
/// that a field the server renames breaks the build or `WireShapesTests`, not a CLI in the field.
/// Where the server encodes a shape through `Encodable` it encodes these same types; sessions and
/// process reports are written by their own writers (`SessionJSON`, `ProcessReportJSON`), and a
/// test decodes what those write into the types below.

/// `GET /api/sessions`: `{"sessions": [session...]}`.
public struct SessionListWire: Decodable, Sendable {
    public let sessions: [SessionWire]
}

/// A session, as `SessionJSON` writes it: the fields a client shows. `pid` and `pgid` are null
/// until the agent is spawned; `processes` and `memory_bytes` come with `?usage=true`.
public struct SessionWire: Decodable, Sendable {
    public let sessionID: String
    public let agent: String
    public let status: String
    public let containment: String
    public let startedAt: String
    public let pid: Int32?
    public let pgid: Int32?
    public let processes: Int?
    public let memoryBytes: UInt64?

    enum CodingKeys: String, CodingKey {
        case sessionID = "session_id", agent, status, containment, startedAt = "started_at", pid, pgid, processes
        case memoryBytes = "memory_bytes"
    }
}

/// `DELETE /api/sessions/{id}`: how the session ended. The server encodes this type.
public struct EndResultJSON: Codable, Sendable {
    public let sessionID: String
    public let outcome: String
    public let reason: String
    public let durationMS: Int64

    enum CodingKeys: String, CodingKey {
        case sessionID = "session_id", outcome, reason, durationMS = "duration_ms"
    }
}

/// One process of a session in the process inspection. The server encodes this type.
public struct SessionProcessJSON: Codable, Sendable {
    public let pid: Int32
    public let ppid: Int32
    public let pgid: Int32
    public let cmd: String
    /// Admins only.
    public let env: [String: String]?
}

/// `GET /api/debug/session/{id}/processes`, as `ProcessReportJSON` writes it: what a client
/// shows (of the stored record in `session_data`, only the containment).
public struct ProcessReportWire: Decodable, Sendable {
    public let pid: Int32?
    public let pgid: Int32?
    public let isProcessAlive: Bool
    public let isGroupAlive: Bool
    public let childProcesses: [SessionProcessJSON]
    public let errors: [String]
    /// `cgroup`, `pid-namespace` or `process-group`; nil for a record no longer stored.
    public let containment: String?

    enum CodingKeys: String, CodingKey {
        case pid, pgid, isProcessAlive = "is_process_alive", isGroupAlive = "is_group_alive", childProcesses = "child_processes", errors
        case sessionData = "session_data"
    }

    private struct StoredRecord: Decodable {
        let containment: String?
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        pid = try container.decodeIfPresent(Int32.self, forKey: .pid)
        pgid = try container.decodeIfPresent(Int32.self, forKey: .pgid)
        isProcessAlive = try container.decode(Bool.self, forKey: .isProcessAlive)
        isGroupAlive = try container.decode(Bool.self, forKey: .isGroupAlive)
        childProcesses = try container.decode([SessionProcessJSON].self, forKey: .childProcesses)
        errors = try container.decode([String].self, forKey: .errors)
        containment = try container.decodeIfPresent(StoredRecord.self, forKey: .sessionData)?.containment
    }
}
