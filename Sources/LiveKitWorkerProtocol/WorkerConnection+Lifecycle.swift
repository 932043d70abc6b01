import Foundation
import Logging
import NIOWebSocket
import WSCore

extension WorkerConnection {
    /// Feeds an event to the lifecycle and carries out its actions, in order.
    func handle(_ event: WorkerConnectionLifecycle.Event) async {
        let actions = lifecycle.handle(event, now: .now)
        if let phase = lifecycle.phase { status.phase = phase }
        status.failures = lifecycle.failures
        for action in actions {
            await perform(action)
        }
    }

    private func perform(_ action: WorkerConnectionLifecycle.Action) async {
        switch action {
        case .connect(let attempt):
            status.retryAt = nil
            logger.info("connecting to LiveKit at \(configuration.endpoint.url)")
            connect(attempt)
        case .sendRegistration(let attempt):
            enqueue(.with { $0.register = configuration.registration }, on: attempt)
        case .announceRegistration(let attempt):
            guard let registration, registration.attempt == attempt else { return }
            self.registration = nil
            await announce(registration.response, attempt: attempt)
        case .cut(let attempt):
            sockets[attempt]?.cut()
        case .closeGracefully(let attempt):
            // The writer sends a close frame once the link's queue ends; the server's answer ends
            // the connection (or WSCore's close timeout does).
            if let link, link.id == attempt { link.continuation.finish() }
        case .reportFailure(let reason, let afterRegistration, let failures, let delay):
            status.workerID = nil
            status.registeredAt = nil
            status.lastError = reason
            status.retryAt = Date() + delay.seconds
            if afterRegistration {
                logger.warning("connection to LiveKit dropped: \(reason); reconnecting in \(delay.seconds.rounded(to: 2)) s")
            } else {
                logger.warning("connecting to LiveKit failed (\(failures) in a row): \(reason); retrying in \(delay.seconds.rounded(to: 2)) s")
            }
            await delegate.disconnected(reason: reason)
        case .setTimer(let deadline):
            timer?.cancel()
            timer = Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                if Task.isCancelled { return }
                await self.handle(.timerFired)
            }
        case .cancelTimer:
            timer?.cancel()
            timer = nil
        case .finish:
            timer?.cancel()
            timer = nil
            status.workerID = nil
            status.registeredAt = nil
            status.retryAt = nil
            logger.info("stopped the LiveKit worker connection")
            finished?.resume()
            finished = nil
        }
    }

    /// Starts attempt `attempt`: a socket whose steps and end come back as events.
    ///
    /// The socket runs in a detached task: it ends when the lifecycle says (a cut or a close
    /// handshake), not when graceful shutdown reaches it on its own, and it holds no task-local
    /// state of whoever started the attempt.
    private func connect(_ attempt: Int) {
        let messages = openLink(attempt)
        let socket: WorkerSocket
        do {
            let token = WorkerToken.make(apiKey: configuration.apiKey, apiSecret: configuration.apiSecret)
            socket = try WorkerSocket(configuration: configuration, token: token, closeTimeout: Self.closeTimeout, logger: logger)
        } catch {
            let reason = WorkerConnectionError.describe(error, url: configuration.endpoint.url)
            Task { await self.socketEnded(attempt, reason: reason) }
            return
        }
        sockets[attempt] = socket
        let url = configuration.endpoint.url
        Task.detached {
            let reason: String
            do {
                let closed = try await socket.run(
                    reporting: { step in
                        Task {
                            switch step {
                            case .tcpConnected: await self.handle(.tcpConnected(attempt: attempt))
                            case .tlsEstablished: await self.handle(.tlsEstablished(attempt: attempt))
                            }
                        }
                    },
                    handler: { inbound, outbound, _ in
                        await self.handle(.upgraded(attempt: attempt))
                        try await self.serve(inbound: inbound, outbound: outbound, messages: messages, linkID: attempt)
                    }
                )
                reason = WorkerConnectionError.closed(code: closed.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) }, reason: closed?.reason).description
            } catch {
                reason = WorkerConnectionError.describe(error, url: url)
            }
            await self.socketEnded(attempt, reason: reason)
        }
    }

    private func socketEnded(_ attempt: Int, reason: String) async {
        sockets[attempt] = nil
        closeLink(attempt)
        await handle(.socketEnded(attempt: attempt, reason: reason))
    }

    /// How long a stopping worker waits for the server's answer to its close frame.
    static let closeTimeout: Duration = .seconds(2)
}
