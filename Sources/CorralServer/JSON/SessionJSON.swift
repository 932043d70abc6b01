import CorralCore
import CorralSecurity
import Foundation
import CorralStore
import CorralPlatform

/// The API's JSON shapes (see the contract): snake_case, times in RFC 3339 UTC.
/// A session, written straight to bytes (`write(to:)`) in the order a sorted-keys encoder would:
/// lists of thousands of sessions are written this way, and single sessions the same way.
struct SessionJSON {
    let sessionID: String
    let agent: String
    let pid: Int32?
    let pgid: Int32?
    let isGroupLeader: Bool
    let status: String
    let containment: String
    let startedAt: String
    let expiresAt: String
    let metadata: [String: String]
    let usage: ResourceUsage?
    let node: String?
    let livekit: [String: String]?
    /// `warm` (a prewarmed agent took it), `fork` (forked from the profile's template) or `cold`
    /// (spawned for it).
    let start: String

    /// `status` overrides the record's (`lost`: its node does not answer).
    init(_ record: SessionRecord, usage: ResourceUsage? = nil, status: String? = nil) {
        self.usage = usage
        self.node = record.node
        self.livekit = record.livekitRoom.map { room in
            var binding = ["room": room, "identity": record.livekitIdentity ?? ""]
            if let job = record.livekitJob {
                binding["job_id"] = job.jobID
                binding["agent_name"] = job.agentName
                binding["dispatch_id"] = job.dispatchID
            }
            return binding
        }
        sessionID = record.id.rawValue
        agent = record.agent
        pid = record.pid
        pgid = record.pgid
        isGroupLeader = record.isGroupLeader
        self.status = status ?? record.status.rawValue
        containment = record.containment.rawValue
        start = record.start.rawValue
        startedAt = RFC3339.string(record.createdAt)
        expiresAt = RFC3339.string(record.expiresAt)
        metadata = record.metadata
    }

    /// The session alone, as a response body.
    var json: JSONWriter {
        var writer = JSONWriter(capacity: 512)
        write(to: &writer)
        return writer
    }

    /// The object, keys in sorted order; `pid` and `pgid` are null until spawned, never missing.
    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("agent")
        writer.string(agent)
        writer.key("containment")
        writer.string(containment)
        writer.key("expires_at")
        writer.string(expiresAt)
        writer.key("is_group_leader")
        writer.bool(isGroupLeader)
        if let livekit {
            writer.key("livekit")
            writer.object(livekit)
        }
        if let usage {
            writer.key("memory_bytes")
            writer.integer(usage.memoryBytes)
        }
        writer.key("metadata")
        writer.object(metadata)
        if let node {
            writer.key("node")
            writer.string(node)
        }
        writer.key("pgid")
        if let pgid { writer.integer(pgid) } else { writer.null() }
        writer.key("pid")
        if let pid { writer.integer(pid) } else { writer.null() }
        if let usage {
            writer.key("processes")
            writer.integer(usage.processes)
        }
        if let pss = usage?.pssBytes {
            writer.key("pss_bytes")
            writer.integer(pss)
        }
        writer.key("session_id")
        writer.string(sessionID)
        writer.key("start")
        writer.string(start)
        writer.key("started_at")
        writer.string(startedAt)
        writer.key("status")
        writer.string(status)
        writer.endObject()
    }
}

/// An idle prewarmed agent (`GET /api/prewarm`).
struct IdleAgentJSON: Encodable {
    let idleID: String
    let agent: String
    let pid: Int32?
    let state: String
    let containment: String
    let startedAt: String
    let processes: Int?
    let memoryBytes: UInt64?

    enum CodingKeys: String, CodingKey {
        case idleID = "idle_id", agent, pid, state, containment, startedAt = "started_at", processes, memoryBytes = "memory_bytes"
    }

    init(_ idle: Supervisor.IdleAgent) {
        idleID = idle.record.id.rawValue
        agent = idle.record.agent
        pid = idle.record.pid
        state = idle.ready ? "ready" : "loading"
        containment = idle.record.containment.rawValue
        startedAt = RFC3339.string(idle.record.createdAt)
        processes = idle.usage?.processes
        memoryBytes = idle.usage?.memoryBytes
    }
}

/// Idle agents and each prewarmed profile's target.
struct PrewarmJSON: Encodable {
    let targets: [String: Int]
    let idle: [IdleAgentJSON]
}

/// A profile's template (`GET /api/templates`).
struct TemplateJSON: Encodable {
    let agent: String
    let state: String
    let templateID: String?
    let pid: Int32?
    let startedAt: String?
    let readyAt: String?
    let forks: Int
    let forkFailures: Int
    let restarts: Int
    let failuresInARow: Int
    let lastError: String?
    let retryInMS: Int64?
    let queued: Int
    let maxQueuedForks: Int
    let memoryLimitMB: Int?
    let memoryBytes: UInt64?
    let pssBytes: UInt64?

    enum CodingKeys: String, CodingKey {
        case agent, state, templateID = "template_id", pid, startedAt = "started_at", readyAt = "ready_at", forks
        case forkFailures = "fork_failures", restarts, failuresInARow = "failures_in_a_row", lastError = "last_error"
        case retryInMS = "retry_in_ms", queued, maxQueuedForks = "max_queued_forks", memoryLimitMB = "memory_limit_mb"
        case memoryBytes = "memory_bytes", pssBytes = "pss_bytes"
    }

    init(_ status: Supervisor.TemplateStatus) {
        agent = status.agent
        state = status.state
        templateID = status.record?.id.rawValue
        pid = status.record?.pid
        startedAt = status.record.map { RFC3339.string($0.createdAt) }
        readyAt = status.state == "ready" ? status.record?.readyAt.map(RFC3339.string) : nil
        forks = status.forks
        forkFailures = status.forkFailures
        restarts = status.restarts
        failuresInARow = status.failuresInARow
        lastError = status.lastError
        retryInMS = status.retryIn.map { $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000 }
        queued = status.queued
        maxQueuedForks = status.settings.maxQueuedForks
        memoryLimitMB = status.settings.memoryLimitMB
        memoryBytes = status.usage?.memoryBytes
        pssBytes = status.usage?.pssBytes
    }

    /// Every key, null where there is no value (the answer's shape does not change with state).
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(agent, forKey: .agent)
        try container.encode(state, forKey: .state)
        try container.encode(templateID, forKey: .templateID)
        try container.encode(pid, forKey: .pid)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(readyAt, forKey: .readyAt)
        try container.encode(forks, forKey: .forks)
        try container.encode(forkFailures, forKey: .forkFailures)
        try container.encode(restarts, forKey: .restarts)
        try container.encode(failuresInARow, forKey: .failuresInARow)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(retryInMS, forKey: .retryInMS)
        try container.encode(queued, forKey: .queued)
        try container.encode(maxQueuedForks, forKey: .maxQueuedForks)
        try container.encode(memoryLimitMB, forKey: .memoryLimitMB)
        try container.encode(memoryBytes, forKey: .memoryBytes)
        try container.encode(pssBytes, forKey: .pssBytes)
    }
}

struct TemplateListJSON: Encodable {
    let templates: [TemplateJSON]
}

struct SessionListJSON {
    let sessions: [SessionJSON]

    /// `{"sessions":[...]}`, written directly: this response grows with the session count.
    var json: JSONWriter {
        var writer = JSONWriter(capacity: 64 + sessions.count * 400)
        writer.beginObject()
        writer.key("sessions")
        writer.beginArray()
        for session in sessions { session.write(to: &writer) }
        writer.endArray()
        writer.endObject()
        return writer
    }
}

extension EndResultJSON {
    init(_ result: EndResult) {
        sessionID = result.sessionID.rawValue
        outcome = result.outcome.rawValue
        reason = result.reason.name
        durationMS = result.duration.components.seconds * 1000 + result.duration.components.attoseconds / 1_000_000_000_000_000
    }
}

/// The stored record, as `session_data` in the process inspection: every field of
/// `SessionRecord.fields`, under its JSON key.
struct StoredRecordJSON: Encodable {
    let record: SessionRecord

    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for field in SessionRecord.fields {
            let key = Key(stringValue: field.jsonKey)
            switch (field.kind, field.get(record)) {
            case (_, .null): try container.encodeNil(forKey: key)
            case (.date, .real(let seconds)): try container.encode(RFC3339.string(Date(timeIntervalSince1970: seconds)), forKey: key)
            case (.stringMap, _): try container.encode(record.metadata, forKey: key)
            case (.unsigned, .integer(let bits)): try container.encode(UInt64(bitPattern: bits), forKey: key)
            case (_, .text(let text)): try container.encode(text, forKey: key)
            case (_, .integer(let number)): try container.encode(number, forKey: key)
            case (_, .real(let number)): try container.encode(number, forKey: key)
            case (_, .bool(let flag)): try container.encode(flag, forKey: key)
            }
        }
    }
}

struct ProcessReportJSON: Encodable {
    typealias Process = SessionProcessJSON

    let sessionID: String
    let pid: Int32?
    let pgid: Int32?
    let isGroupLeader: Bool
    let isProcessAlive: Bool
    let isGroupAlive: Bool
    let childProcesses: [Process]
    let sessionData: StoredRecordJSON?
    let errors: [String]
    let usage: ResourceUsage?

    enum CodingKeys: String, CodingKey {
        case sessionID = "session_id", pid, pgid, isGroupLeader = "is_group_leader", isProcessAlive = "is_process_alive"
        case isGroupAlive = "is_group_alive", childProcesses = "child_processes", sessionData = "session_data", errors
        case memoryBytes = "memory_bytes", pssBytes = "pss_bytes"
    }

    /// With a redactor (callers below admin), secrets in command lines are hidden.
    init(_ report: ProcessReport, stored: SessionRecord?, storeError: String?, redactor: Redactor?) {
        sessionID = report.record.id.rawValue
        pid = report.record.pid
        pgid = report.record.pgid
        isGroupLeader = report.record.isGroupLeader
        isProcessAlive = report.isProcessAlive
        isGroupAlive = report.isGroupAlive
        childProcesses = report.listing.entries.map { entry in
            let command =
                if let redactor {
                    entry.arguments.isEmpty ? redactor.text(entry.command) : redactor.arguments(entry.arguments).joined(separator: " ")
                } else {
                    entry.command
                }
            return Process(pid: entry.pid, ppid: entry.ppid, pgid: entry.pgid, cmd: command, env: entry.environment)
        }
        sessionData = stored.map(StoredRecordJSON.init)
        errors = report.listing.errors + (storeError.map { [$0] } ?? [])
        usage = report.usage
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sessionID, forKey: .sessionID)
        try container.encode(pid, forKey: .pid)
        try container.encode(pgid, forKey: .pgid)
        try container.encode(isGroupLeader, forKey: .isGroupLeader)
        try container.encode(isProcessAlive, forKey: .isProcessAlive)
        try container.encode(isGroupAlive, forKey: .isGroupAlive)
        try container.encode(childProcesses, forKey: .childProcesses)
        if let sessionData {
            try container.encode(sessionData, forKey: .sessionData)
        } else {
            try container.encode([String: String](), forKey: .sessionData)
        }
        try container.encode(errors, forKey: .errors)
        try container.encodeIfPresent(usage?.memoryBytes, forKey: .memoryBytes)
        try container.encodeIfPresent(usage?.pssBytes, forKey: .pssBytes)
    }
}

