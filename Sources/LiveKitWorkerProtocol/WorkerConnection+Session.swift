import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOWebSocket
import SwiftProtobuf
import WSClient

extension WorkerConnection {
    /// One connection, from connect to its end: registers, then serves until the server closes
    /// it, it drops, or the task is cancelled. Returns how the server ended it; throws how it
    /// failed.
    ///
    /// Cancelled, it closes the WebSocket with a close handshake rather than by cutting the
    /// socket: the WebSocket client runs in a task of its own, and cancellation ends the link,
    /// on which the writer sends a close frame and the server's answer ends the reader. (Cut
    /// under TLS, the socket would wait seconds for a close_notify it can no longer read.) A
    /// connection still being made, or a server that does not answer, is cut a little later.
    func connectOnce() async throws -> WorkerConnectionError {
        let (linkID, messages, end) = openLink()
        defer { closeLink(linkID) }
        var webSocket = WebSocketClientConfiguration(
            maxFrameSize: configuration.maxMessageSize,
            autoPing: .enabled(timePeriod: configuration.pingInterval)
        )
        let token = WorkerToken.make(apiKey: configuration.apiKey, apiSecret: configuration.apiSecret)
        webSocket.additionalHeaders[.authorization] = "Bearer \(token)"
        webSocket.closeTimeout = Self.closeTimeout
        let tls = configuration.endpoint.secure ? (configuration.tlsConfiguration ?? .makeClientConfiguration()) : nil
        let client = WebSocketClient(
            url: configuration.endpoint.url,
            configuration: webSocket,
            tlsConfiguration: tls,
            logger: logger
        ) { inbound, outbound, _ in
            try await self.serve(inbound: inbound, outbound: outbound, messages: messages, linkID: linkID)
        }
        let session = Task { try await client.run() }
        let closeTimeout = webSocket.closeTimeout
        let closed = try await withTaskCancellationHandler {
            try await session.value
        } onCancel: {
            end.finish()
            Task {
                try? await Task.sleep(for: closeTimeout + .seconds(1))
                session.cancel()
            }
        }
        return .closed(code: closed.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) }, reason: closed?.reason)
    }

    /// The connection's work once the WebSocket is up: the register message first, then a reader
    /// (frames to server messages), a writer (the link's queue to frames), the registration
    /// deadline and the dispatcher (server messages to the delegate). When the reader ends, the
    /// dispatcher still hands over what was read, so a termination the server sent just before
    /// closing is not lost. Returns when the server ended the connection; throws (which closes
    /// it) on a failure.
    private nonisolated func serve(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        messages: AsyncStream<Livekit_WorkerMessage>,
        linkID: Int
    ) async throws {
        try await write(.with { $0.register = configuration.registration }, to: outbound)
        let (events, eventSink) = AsyncStream.makeStream(of: Livekit_ServerMessage.self)
        let maxMessageSize = configuration.maxMessageSize
        let registerTimeout = configuration.registerTimeout
        let closeTimeout = Self.closeTimeout
        try await withThrowingTaskGroup(of: SessionTask.self) { group in
            group.addTask {
                defer { eventSink.finish() }
                do {
                    for try await frame in inbound.messages(maxSize: maxMessageSize) {
                        guard case .binary(let buffer) = frame else {
                            // LiveKit answers a binary worker in binary; a text frame is not ours.
                            self.logger.warning("ignored a text frame from LiveKit: \(frame.description.prefix(200))")
                            continue
                        }
                        do {
                            eventSink.yield(try Livekit_ServerMessage(serializedBytes: Array(buffer.readableBytesView)))
                        } catch {
                            throw WorkerConnectionError.undecodable("\(error)")
                        }
                    }
                    return .reader(nil)
                } catch {
                    return .reader(error)
                }
            }
            group.addTask {
                do {
                    for await message in messages {
                        try await self.write(message, to: outbound)
                    }
                    // The link ended: the worker stops.
                    try await outbound.close(.normalClosure, reason: "worker stopping")
                    return .writer(nil)
                } catch {
                    return .writer(error)
                }
            }
            group.addTask {
                try await Task.sleep(for: registerTimeout)
                guard await self.isRegistered(linkID) else {
                    throw WorkerConnectionError.registerTimeout(seconds: registerTimeout.seconds)
                }
                return .registered
            }
            group.addTask {
                try await self.dispatch(events, linkID: linkID)
                return .dispatcher
            }
            var readerError: (any Error)?
            var readerEnded = false
            while let ended = try await group.next() {
                switch ended {
                case .reader(let error):
                    readerEnded = true
                    readerError = error
                case .writer(let error?) where !readerEnded:
                    // A socket that cannot be written is lost even if nothing was read yet.
                    group.cancelAll()
                    throw error
                case .writer(nil) where !readerEnded:
                    // The worker stops: its close frame is out; the server's answer ends the
                    // reader, or the close times out.
                    group.addTask {
                        try await Task.sleep(for: closeTimeout)
                        return .closeTimedOut
                    }
                case .closeTimedOut:
                    group.cancelAll()
                    return
                case .dispatcher:
                    // It ends once the reader has ended and what was read has been handed over.
                    group.cancelAll()
                    if let readerError { throw readerError }
                    return
                case .writer, .registered:
                    continue
                }
            }
        }
    }

    /// How long a stopping worker waits for the server's answer to its close frame.
    static let closeTimeout: Duration = .seconds(2)

    /// How one of a connection's tasks ended.
    private enum SessionTask {
        case reader((any Error)?)
        case writer((any Error)?)
        case registered
        case dispatcher
        case closeTimedOut
    }

    private nonisolated func write(_ message: Livekit_WorkerMessage, to outbound: WebSocketOutboundWriter) async throws {
        let bytes: [UInt8] = try message.serializedBytes()
        try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
    }
}
