import CorralPlatform
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An append-only JSON-lines record of who did what (start, end, inspect, logs) and of refused
/// requests: one `write(2)` per line with O_APPEND, so lines never interleave, and a line cut
/// short by a crash is closed at the next start, so every other line stays readable. Rotated by
/// size (one older file, `NAME.1`). Never holds session metadata; every field of a line is
/// bounded (`Entry`).
///
/// Refusals (a bad token from whoever can reach the port; a known token's request refused or
/// failed: a 403 for its role, a 404 for an unknown session) cost the caller nothing, so they
/// cannot be allowed to push the record of what was done out of the files: they are summed up,
/// one line per caller (token, or address without one), address and kind per `refusalWindow`
/// (with a `count`), they never cause a rotation (only what was done counts toward
/// `maxBytes`), and their lines have a budget of `maxBytes` per file of their own.
public final class AuditLog: Sendable {
    private struct RefusalKey: Hashable {
        let who: String
        let role: Role?
        let action: String
        let address: String?
        let result: Int
    }

    private struct Refusals {
        var count: Int
        let first: Date
        var last: Date
        /// The session they all named; nil once two named different ones (or none did).
        var session: BoundedSession?
    }

    private struct State {
        var fd: Int32
        /// What was done, in bytes, in the current file: the only thing rotation counts.
        var actionBytes: UInt64
        /// Refusal summaries in the current file, against a budget of their own.
        var refusalBytes: UInt64 = 0
        /// Reads (inspections, log reads) in the current file, against a budget of their own.
        var readBytes: UInt64 = 0
        var refusalBudgetSpent = false
        var pending: [RefusalKey: Refusals] = [:]
        var flushScheduled = false
    }

    public let path: String
    private let maxBytes: UInt64
    private let refusalWindow: Duration
    private let logger: Logger?
    private let state: Mutex<State>
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public init(path: String, maxBytes: UInt64, refusalWindow: Duration = .seconds(60), logger: Logger? = nil) throws(CorralError) {
        self.path = path
        self.maxBytes = maxBytes
        self.refusalWindow = refusalWindow
        self.logger = logger
        let fd = Self.open(path)
        guard fd >= 0 else {
            throw CorralError(.configuration, "cannot open the audit log \(path)", underlying: SystemError("open", errno: errno))
        }
        Self.closeTruncatedLine(fd)
        var info = stat()
        state = Mutex(State(fd: fd, actionBytes: fstat(fd, &info) == 0 ? UInt64(info.st_size) : 0))
    }

    deinit {
        flushRefusals()
        let fd = state.withLock { $0.fd }
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Something that was done: a line of its own, written now.
    public func record(_ entry: Entry) {
        guard let line = encode(entry) else { return }
        state.withLock { state in
            rotateIfNeeded(&state)
            if write(line, to: state.fd) { state.actionBytes += UInt64(line.count) }
        }
    }

    /// A read that was done (an inspection, a log read): a line of its own while reads have room
    /// in their share of the file (`maxBytes` per file, as refusals have), past it summed up as
    /// refusals are. Reads never cause a rotation: however many a token makes, the record of
    /// what changed stays. `address` is the caller's address and port for its line, `host` the
    /// address alone that summaries are kept by.
    public func read(_ entry: Entry, host: String?) {
        guard let line = encode(entry) else { return }
        let written = state.withLock { state -> Bool in
            guard maxBytes == 0 || state.readBytes + UInt64(line.count) <= maxBytes else { return false }
            if write(line, to: state.fd) { state.readBytes += UInt64(line.count) }
            return true
        }
        guard !written else { return }
        summarize(who: entry.who, role: entry.role.flatMap(Role.init), action: entry.action, session: entry.bounded, address: host, result: entry.result)
    }

    /// A request refused or failed, having done nothing: counted, and written as one line per
    /// caller (`who`: a token's name, or `unknown` without a valid one), address and kind
    /// (`action`, `result`) when the window ends. The line names the session only where all of
    /// them named the same one.
    public func refused(
        who: String, role: Role? = nil, action: String, session: String? = nil, address: String?, result: Int, at time: Date = Date()
    ) {
        summarize(who: who, role: role, action: action, session: session.map(BoundedSession.init), address: address, result: result, at: time)
    }

    /// Counts a request toward its summary line, written when the window ends.
    private func summarize(who: String, role: Role?, action: String, session named: BoundedSession?, address: String?, result: Int, at time: Date = Date()) {
        let key = RefusalKey(who: who, role: role, action: action, address: address, result: result)
        let schedule = state.withLock { state -> Bool in
            if var refusals = state.pending[key] {
                refusals.count += 1
                refusals.last = time
                if refusals.session != named { refusals.session = nil }
                state.pending[key] = refusals
            } else {
                state.pending[key] = Refusals(count: 1, first: time, last: time, session: named)
            }
            defer { state.flushScheduled = true }
            return !state.flushScheduled
        }
        guard schedule else { return }
        let window = refusalWindow
        Task { [weak self] in
            try? await Task.sleep(for: window)
            self?.flushRefusals()
        }
    }

    /// Writes the refusals counted so far (at the end of each window, and when corral stops).
    public func flushRefusals() {
        let (dropped, budgetJustSpent) = state.withLock { state -> (Int, Bool) in
            let pending = state.pending.sorted { $0.value.first < $1.value.first }
            state.pending = [:]
            state.flushScheduled = false
            var dropped = 0
            let wasSpent = state.refusalBudgetSpent
            for (key, refusals) in pending {
                let entry = Entry(
                    time: refusals.last, who: key.who, role: key.role, action: key.action, session: refusals.session, address: key.address,
                    result: key.result, count: refusals.count, since: refusals.first
                )
                guard let line = encode(entry) else { continue }
                guard maxBytes == 0 || state.refusalBytes + UInt64(line.count) <= maxBytes else {
                    state.refusalBudgetSpent = true
                    dropped += refusals.count
                    continue
                }
                if write(line, to: state.fd) { state.refusalBytes += UInt64(line.count) }
            }
            return (dropped, state.refusalBudgetSpent && !wasSpent)
        }
        if budgetJustSpent {
            logger?.warning(
                "audit log: refused requests fill their share of the file; more are not written until it rotates",
                metadata: ["path": "\(path)", "refusals_not_written": "\(dropped)"]
            )
        }
    }

    private func encode(_ entry: Entry) -> Data? {
        guard var data = try? encoder.encode(entry) else { return nil }
        data.append(UInt8(ascii: "\n"))
        return data
    }

    private func write(_ line: Data, to fd: Int32) -> Bool {
        line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == line.count
    }

    private func rotateIfNeeded(_ state: inout State) {
        guard maxBytes > 0, state.actionBytes >= maxBytes else { return }
        rename(path, path + ".1")
        let fresh = Self.open(path)
        guard fresh >= 0 else { return }
        Glibc.close(state.fd)
        state = State(fd: fresh, actionBytes: 0, pending: state.pending, flushScheduled: state.flushScheduled)
    }

    /// Opens for appending, creating it 0600; a file that was there already is made 0600 too.
    private static func open(_ path: String) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd >= 0 { fchmod(fd, 0o600) }
        return fd
    }

    /// A previous corral that died mid-write left a line without its newline: end it, so the
    /// next entry starts on a line of its own.
    private static func closeTruncatedLine(_ fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return }
        let reader = Glibc.open("/proc/self/fd/\(fd)", O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return }
        defer { Glibc.close(reader) }
        var last: UInt8 = 0
        if pread(reader, &last, 1, info.st_size - 1) == 1, last != UInt8(ascii: "\n") {
            var newline = UInt8(ascii: "\n")
            _ = Glibc.write(fd, &newline, 1)
        }
    }
}
