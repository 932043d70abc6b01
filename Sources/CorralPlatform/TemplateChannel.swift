import CCorralShims
import Foundation
import Synchronization

/// corral's end of a template's control channel: a `SOCK_SEQPACKET` socket pair made before the
/// template is spawned, whose other end the template inherits at `CORRAL_TEMPLATE_FD`. corral
/// sends `fork` requests (with the session's descriptors) and waits for each answer; what the
/// template says is read on the monitor's thread: answers go to the request waiting for them,
/// exit reports to the monitor's watch of the fork (`ProcessMonitor.reportForkedExit`). A
/// message that is not the protocol, or the end of the stream, fails the channel: every request
/// waiting is answered with the failure, and the owner is told (it replaces the template).
package final class TemplateChannel: Sendable {
    package enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case violation(ProtocolViolation)
        /// The template closed its end, or exited.
        case closed
        /// No answer to a request within its bound.
        case timedOut(Duration)
        case send(SystemError)

        package var description: String {
            switch self {
            case .violation(let violation): "answered garbage (\(violation))"
            case .closed: "closed its control channel"
            case .timedOut(let bound): "did not answer a fork request within \(TemplateChannel.seconds(bound)) s"
            case .send(let error): "could not be sent a fork request (\(error))"
            }
        }
    }

    /// The answer to a fork request.
    package enum Reply: Sendable {
        /// The child, placed in the session's cgroups by its own hand (as the template says:
        /// corral checks).
        case forked(PidFD)
        case refused(String)
    }

    private struct State {
        var pending: [UInt64: CheckedContinuation<Result<Reply, Failure>, Never>] = [:]
        var failure: Failure?
        var watch: UInt64?
        var onFailure: (@Sendable (Failure) -> Void)?
    }

    /// corral's end (non-blocking).
    let descriptor: Int32
    /// What the monitor knows this template's forks by.
    package let origin: UInt64
    private let templateEnd: Mutex<Int32>
    private let state = Mutex(State())
    private let monitor: ProcessMonitor
    private static let origins = Atomic<UInt64>(0)

    package init(monitor: ProcessMonitor) throws(SystemError) {
        var corralEnd: Int32 = -1
        var agentEnd: Int32 = -1
        try Syscall.shim("socketpair(SOCK_SEQPACKET)") { corral_seqpacket_pair(&corralEnd, &agentEnd) }
        descriptor = corralEnd
        templateEnd = Mutex(agentEnd)
        origin = Self.origins.add(1, ordering: .relaxed).newValue
        self.monitor = monitor
    }

    /// The template's end, inherited by the template; corral's copy is closed once it is spawned.
    package var templateDescriptor: Int32 { templateEnd.withLock { $0 } }

    package func closeTemplateEnd() {
        templateEnd.withLock { fd in
            if fd >= 0 { Syscall.close(fd) }
            fd = -1
        }
    }

    /// Starts reading the template's messages; `onFailure` is told (once, on the monitor's
    /// thread) when the channel fails.
    package func start(onFailure: @escaping @Sendable (Failure) -> Void) throws(SystemError) {
        state.withLock { $0.onFailure = onFailure }
        let token = try monitor.watchReadable(descriptor) { [self] in receiveAll() }
        let failed = state.withLock { state in
            state.watch = token
            return state.failure != nil
        }
        if failed { monitor.unwatch(token) }
    }

    /// The failure that ended the channel, if it did.
    var failure: Failure? { state.withLock(\.failure) }

    /// Sends `fork` with `descriptors` (corral keeps its copies) and waits up to `timeout` for
    /// the answer.
    package func request(_ fork: TemplateProtocol.Fork, descriptors: [Int32], timeout: Duration) async -> Result<Reply, Failure> {
        let id = fork.id
        let message = fork.encoded
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { resolve(id, .failure(.timedOut(timeout))) }
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let failed = state.withLock { state -> Failure? in
                if let failure = state.failure { return failure }
                state.pending[id] = continuation
                return nil
            }
            if let failed { return continuation.resume(returning: .failure(failed)) }
            let sent = message.withUnsafeBytes { bytes in
                descriptors.withUnsafeBufferPointer { fds in
                    corral_send_with_fds(descriptor, bytes.baseAddress!, bytes.count, fds.baseAddress, Int32(fds.count))
                }
            }
            if sent != 0 {
                resolve(id, .failure(sent == EPIPE || sent == ECONNRESET ? .closed : .send(SystemError("sendmsg", errno: sent))))
            }
        }
    }

    /// The template has exited (its exit is being handled on the monitor's thread): what it sent
    /// before is read, then its forks are left to the kernel's re-parenting (`originGone`).
    package func templateExited() {
        receiveAll(batch: 4096)
        fail(.closed, tellingOwner: false)
        monitor.originGone(origin)
    }

    package func close() {
        fail(.closed, tellingOwner: false)
        closeTemplateEnd()
        Syscall.close(descriptor)
    }

    // MARK: Reading, on the monitor's thread

    /// Reads what is queued; at most `batch` messages a turn, so that a template flooding its
    /// channel cannot keep the monitor's thread from everything else (epoll calls again).
    private func receiveAll(batch: Int = 64) {
        var buffer = [UInt8](repeating: 0, count: TemplateProtocol.maxMessage)
        var fds = [Int32](repeating: -1, count: 4)
        for _ in 0..<batch where state.withLock({ $0.failure == nil }) {
            var length = 0
            var count: Int32 = 0
            var truncated: Int32 = 0
            let result = buffer.withUnsafeMutableBytes { bytes in
                fds.withUnsafeMutableBufferPointer { descriptors in
                    corral_receive_with_fds(descriptor, bytes.baseAddress!, bytes.count, &length, descriptors.baseAddress!, 4, &count, &truncated)
                }
            }
            if result == EINTR { continue }
            if result == EAGAIN || result == EWOULDBLOCK { return }
            let received = Array(fds[0..<Int(max(count, 0))])
            if result != 0 || length == 0 {
                received.forEach(Syscall.close)
                return fail(result == 0 || result == ECONNRESET ? .closed : .send(SystemError("recvmsg", errno: result)))
            }
            if truncated != 0 {
                received.forEach(Syscall.close)
                return fail(.violation(ProtocolViolation("a message over \(TemplateProtocol.maxMessage / 1024) KiB or with too many descriptors")))
            }
            switch TemplateProtocol.parse(Array(buffer[0..<length]), descriptors: received.count) {
            case .failure(let violation):
                received.forEach(Syscall.close)
                return fail(.violation(violation))
            case .success(let message):
                if let violation = route(message, received) { return fail(.violation(violation)) }
            }
        }
    }

    /// Hands a message to whoever waits for it; a violation if nothing may.
    private func route(_ message: TemplateProtocol.Message, _ descriptors: [Int32]) -> ProtocolViolation? {
        switch message {
        case .forked(let request, let pid):
            guard let pidFD = PidFD.adopting(received: descriptors[0]) else {
                return ProtocolViolation("a \"forked\" answer whose descriptor is not a pidfd of a live process")
            }
            guard pidFD.pid == pid else {
                pidFD.close()
                return ProtocolViolation("a \"forked\" answer for pid \(pid) with the pidfd of pid \(pidFD.pid)")
            }
            monitor.forgetForkedReport(origin: origin, pid: pid)
            guard resolve(request, .success(.forked(pidFD))) else {
                pidFD.close()
                return ProtocolViolation("a \"forked\" answer to no request waiting (id \(request))")
            }
        case .refused(let request, let error):
            guard resolve(request, .success(.refused(error))) else {
                return ProtocolViolation("a \"refused\" answer to no request waiting (id \(request))")
            }
        case .exited(let pid, let status):
            monitor.reportForkedExit(origin: origin, pid: pid, status: status)
        }
        return nil
    }

    /// Answers the request `id` if it still waits; false if it does not.
    @discardableResult
    private func resolve(_ id: UInt64, _ result: Result<Reply, Failure>) -> Bool {
        guard let waiter = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return false }
        waiter.resume(returning: result)
        return true
    }

    /// Ends the channel (once): every waiting request gets `failure`, and the owner is told
    /// unless it ended the channel itself.
    private func fail(_ failure: Failure, tellingOwner: Bool = true) {
        let (waiters, watch, onFailure) = state.withLock { state -> ([CheckedContinuation<Result<Reply, Failure>, Never>], UInt64?, (@Sendable (Failure) -> Void)?) in
            guard state.failure == nil else { return ([], nil, nil) }
            state.failure = failure
            defer {
                state.pending.removeAll()
                state.watch = nil
                state.onFailure = nil
            }
            return (Array(state.pending.values), state.watch, state.onFailure)
        }
        // epoll reports a closed socket as readable for ever: the watch goes at once.
        if let watch { monitor.unwatch(watch) }
        for waiter in waiters { waiter.resume(returning: .failure(failure)) }
        if tellingOwner { onFailure?(failure) }
    }

    static func seconds(_ duration: Duration) -> String {
        JSONText.number(duration.seconds)
    }
}
