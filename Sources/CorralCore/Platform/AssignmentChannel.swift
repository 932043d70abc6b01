import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// corral's end of a prewarmed agent's assignment channel: a Unix stream socket pair made before
/// the spawn, whose other end the agent inherits as `CORRAL_ASSIGN_FD`. One JSON line goes to the
/// agent (its session); one JSON line comes back (its acknowledgement). A stream socket and
/// newline-delimited JSON, so an agent in any language can read it with a plain `read`.
final class AssignmentChannel: Sendable {
    enum Failure: Error, CustomStringConvertible {
        case send(SystemError)
        case closed
        case timedOut
        case tooLong

        var description: String {
            switch self {
            case .send(let error): "the assignment could not be sent: \(error)"
            case .closed: "the agent closed its assignment channel without answering"
            case .timedOut: "the agent did not acknowledge in time"
            case .tooLong: "the agent's answer is not one line of JSON"
            }
        }
    }

    let descriptor: Int32
    /// The agent's end; corral closes its copy once the agent has been spawned.
    private let agentEnd: Mutex<Int32>
    private static let maxReply = 64 * 1024

    init() throws(SystemError) {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemError("socketpair", errno: errno)
        }
        _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
        descriptor = pair[0]
        agentEnd = Mutex(pair[1])
    }

    var agentDescriptor: Int32 { agentEnd.withLock { $0 } }

    func closeAgentEnd() {
        agentEnd.withLock { fd in
            if fd >= 0 { Syscall.close(fd) }
            fd = -1
        }
    }

    /// Sends `message` as one line and waits up to `timeout` for one line back.
    func exchange(_ message: Data, timeout: Duration, monitor: ProcessMonitor) async throws(Failure) -> Data {
        var line = message
        line.append(UInt8(ascii: "\n"))
        let sent = line.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == line.count else {
            throw .send(SystemError("send", errno: sent < 0 ? errno : EMSGSIZE))
        }
        let reply = Reply()
        let fd = descriptor
        let token: UInt64
        do {
            token = try monitor.watchReadable(fd) { reply.read(from: fd) }
        } catch {
            throw .send(error)
        }
        defer { monitor.unwatch(token) }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            reply.finish(.failure(.timedOut))
        }
        defer { timer.cancel() }
        return try await withCheckedContinuation { reply.wait($0) }.get()
    }

    func close() {
        closeAgentEnd()
        Syscall.close(descriptor)
    }

    /// The answer being read on the monitor thread, handed to the waiting task once complete.
    private final class Reply: Sendable {
        private struct State {
            var buffer = Data()
            var outcome: Result<Data, Failure>?
            var waiter: CheckedContinuation<Result<Data, Failure>, Never>?
        }

        private let state = Mutex(State())

        func wait(_ continuation: CheckedContinuation<Result<Data, Failure>, Never>) {
            let ready = state.withLock { state -> Result<Data, Failure>? in
                if state.outcome == nil { state.waiter = continuation }
                return state.outcome
            }
            if let ready { continuation.resume(returning: ready) }
        }

        func finish(_ outcome: Result<Data, Failure>) {
            let waiter = state.withLock { state -> CheckedContinuation<Result<Data, Failure>, Never>? in
                guard state.outcome == nil else { return nil }
                state.outcome = outcome
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: outcome)
        }

        func read(from descriptor: Int32) {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                if count < 0 { return }  // EAGAIN: the rest comes later
                if count == 0 { return finish(.failure(.closed)) }
                let line = state.withLock { state -> Result<Data, Failure>? in
                    state.buffer.append(contentsOf: chunk[0..<count])
                    if let end = state.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        return .success(state.buffer[state.buffer.startIndex..<end])
                    }
                    return state.buffer.count > AssignmentChannel.maxReply ? .failure(.tooLong) : nil
                }
                if let line { return finish(line) }
            }
        }
    }
}
