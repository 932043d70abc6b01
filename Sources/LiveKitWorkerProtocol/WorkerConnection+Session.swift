import Foundation
import Logging
import NIOCore
import NIOWebSocket
import SwiftProtobuf
import WSCore

extension WorkerConnection {
    /// The connection's work once the WebSocket is up: a reader (frames to server messages), a
    /// writer (the link's queue to frames: the register message first) and the dispatcher (server
    /// messages to the delegate). When the reader ends, the dispatcher still hands over what was
    /// read, so a termination the server sent just before closing is not lost. When the link's
    /// queue ends (the worker stops), the writer sends a close frame. Returns when the server
    /// ended the connection; throws (which closes it) on a failure. The registration's deadline
    /// is the lifecycle's.
    nonisolated func serve(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        messages: AsyncStream<Livekit_WorkerMessage>,
        linkID: Int
    ) async throws {
        let (events, eventSink) = AsyncStream.makeStream(of: Livekit_ServerMessage.self)
        let maxMessageSize = configuration.maxMessageSize
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
                case .writer:
                    continue
                }
            }
        }
    }

    /// How one of a connection's tasks ended.
    private enum SessionTask {
        case reader((any Error)?)
        case writer((any Error)?)
        case dispatcher
        case closeTimedOut
    }

    private nonisolated func write(_ message: Livekit_WorkerMessage, to outbound: WebSocketOutboundWriter) async throws {
        let bytes: [UInt8] = try message.serializedBytes()
        try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
    }
}
