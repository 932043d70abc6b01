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
package final class AssignmentChannel: Sendable {
    package enum Failure: Error, CustomStringConvertible {
        case send(SystemError)
        case closed
        case timedOut
        case tooLong

        package var description: String {
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

    package init() throws(SystemError) {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemError("socketpair", errno: errno)
        }
        _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
        descriptor = pair[0]
        agentEnd = Mutex(pair[1])
    }

    package var agentDescriptor: Int32 { agentEnd.withLock { $0 } }

    package func closeAgentEnd() {
        agentEnd.withLock { fd in
            if fd >= 0 { Syscall.close(fd) }
            fd = -1
        }
    }

    /// Sends `message` as one line and waits up to `timeout` (for both) for one line back.
    package func exchange(_ message: Data, timeout: Duration, monitor: ProcessMonitor) async throws(Failure) -> Data {
        var line = message
        line.append(UInt8(ascii: "\n"))
        let deadline = ContinuousClock.now + timeout
        let fd = descriptor
        switch Self.send(line, from: 0, on: fd, waitingUntil: nil) {
        case .sent: break
        case .failed(let failure): throw failure
        case .partly(let offset):
            // Larger than the socket's buffer: the rest goes out as the agent reads, written off
            // the concurrency pool.
            let rest = line
            let outcome = await Blocking.run(.urgent) { Self.send(rest, from: offset, on: fd, waitingUntil: deadline) }
            if case .failed(let failure) = outcome { throw failure }
        }
        let reply = Reply()
        let token: UInt64
        do {
            token = try monitor.watchReadable(fd) { reply.read(from: fd) }
        } catch {
            throw .send(error)
        }
        reply.watched(by: monitor, token: token)
        defer { monitor.unwatch(token) }
        let timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            reply.finish(.failure(.timedOut))
        }
        defer { timer.cancel() }
        return try await withCheckedContinuation { reply.wait($0) }.get()
    }

    private enum Sending: Sendable {
        case sent
        case partly(Int)
        case failed(Failure)
    }

    /// Writes `data` from `offset`; with a deadline, waits for room in the socket until then.
    private static func send(_ data: Data, from offset: Int, on fd: Int32, waitingUntil deadline: ContinuousClock.Instant?) -> Sending {
        var offset = offset
        while offset < data.count {
            let written = data.withUnsafeBytes { bytes in
                Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                offset += written
                continue
            }
            let error = errno
            if error == EINTR { continue }
            guard error == EAGAIN || error == EWOULDBLOCK else {
                return .failed(error == EPIPE || error == ECONNRESET ? .closed : .send(SystemError("send", errno: error)))
            }
            guard let deadline else { return .partly(offset) }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return .failed(.timedOut) }
            var waiting = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&waiting, 1, Int32(min(left.milliseconds + 1, 1000)))
        }
        return .sent
    }

    package func close() {
        closeAgentEnd()
        Syscall.close(descriptor)
    }

    /// The answer being read on the monitor thread, handed to the waiting task once complete.
    /// Once it is complete the channel is unwatched at once: epoll reports a closed socket as
    /// readable for ever, and the monitor thread must not spin on it.
    private final class Reply: Sendable {
        private struct State {
            var buffer = Data()
            var outcome: Result<Data, Failure>?
            var waiter: CheckedContinuation<Result<Data, Failure>, Never>?
            var watch: (ProcessMonitor, UInt64)?
        }

        private let state = Mutex(State())

        func watched(by monitor: ProcessMonitor, token: UInt64) {
            let done = state.withLock { state in
                state.watch = (monitor, token)
                return state.outcome != nil
            }
            if done { monitor.unwatch(token) }
        }

        func wait(_ continuation: CheckedContinuation<Result<Data, Failure>, Never>) {
            let ready = state.withLock { state -> Result<Data, Failure>? in
                if state.outcome == nil { state.waiter = continuation }
                return state.outcome
            }
            if let ready { continuation.resume(returning: ready) }
        }

        func finish(_ outcome: Result<Data, Failure>) {
            let (waiter, watch) = state.withLock { state -> (CheckedContinuation<Result<Data, Failure>, Never>?, (ProcessMonitor, UInt64)?) in
                guard state.outcome == nil else { return (nil, nil) }
                state.outcome = outcome
                defer { state.waiter = nil }
                return (state.waiter, state.watch)
            }
            if let (monitor, token) = watch { monitor.unwatch(token) }
            waiter?.resume(returning: outcome)
        }

        func read(from descriptor: Int32) {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }  // the rest comes later
                if count <= 0 { return finish(.failure(.closed)) }
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
