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
    func connectOnce() async throws -> WorkerConnectionError {
        let (linkID, messages) = openLink()
        defer { closeLink(linkID) }
        var webSocket = WebSocketClientConfiguration(
            maxFrameSize: configuration.maxMessageSize,
            autoPing: .enabled(timePeriod: configuration.pingInterval)
        )
        let token = WorkerToken.make(apiKey: configuration.apiKey, apiSecret: configuration.apiSecret)
        webSocket.additionalHeaders[.authorization] = "Bearer \(token)"
        // Bounds the wait for the server's answer to our close frame when the worker stops.
        webSocket.closeTimeout = .seconds(2)
        let tls = configuration.endpoint.secure ? (configuration.tlsConfiguration ?? .makeClientConfiguration()) : nil
        let client = WebSocketClient(
            url: configuration.endpoint.url,
            configuration: webSocket,
            tlsConfiguration: tls,
            logger: logger
        ) { inbound, outbound, _ in
            try await self.serve(inbound: inbound, outbound: outbound, messages: messages, linkID: linkID)
        }
        let closed = try await client.run()
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
                case .writer(let error) where !readerEnded:
                    // A socket that cannot be written is lost even if nothing was read yet.
                    group.cancelAll()
                    throw error ?? WorkerConnectionError.closed(code: nil, reason: nil)
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

    /// How one of a connection's tasks ended.
    private enum SessionTask {
        case reader((any Error)?)
        case writer((any Error)?)
        case registered
        case dispatcher
    }

    private nonisolated func write(_ message: Livekit_WorkerMessage, to outbound: WebSocketOutboundWriter) async throws {
        let bytes: [UInt8] = try message.serializedBytes()
        try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
    }
}
