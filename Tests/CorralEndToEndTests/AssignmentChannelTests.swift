@testable import CorralPlatform
import Foundation
import Testing

@testable import CorralCore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Assignment channel")
struct AssignmentChannelTests {
    /// Plays the agent on the channel's other end, on a thread of its own (it blocks): reads
    /// one line, answers `reply` (nil: never), returns how many bytes it read.
    static func agent(_ channel: AssignmentChannel, reply: String?) -> Task<Int, Never> {
        let fd = dup(channel.agentDescriptor)
        channel.closeAgentEnd()
        return Task {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: Self.play(fd, reply: reply)) }
            }
        }
    }

    private static func play(_ fd: Int32, reply: String?) -> Int {
        defer { close(fd) }
        var received = 0
        var byte = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &byte, byte.count)
            guard count > 0 else { return received }
            received += count
            if byte[count - 1] == UInt8(ascii: "\n") { break }
        }
        if let reply { _ = Array((reply + "\n").utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        // Hold the socket open until corral closes its end.
        _ = read(fd, &byte, 1)
        return received
    }

    @Test func aLineLargerThanTheSocketBufferArrivesWhole() async throws {
        try ProcessMonitor.shared.start()
        let channel = try AssignmentChannel()
        let agent = Self.agent(channel, reply: #"{"type":"ack"}"#)
        let message = Data(repeating: UInt8(ascii: "x"), count: 4 << 20)
        let reply = try await channel.exchange(message, timeout: .seconds(60), monitor: .shared)
        #expect(String(decoding: reply, as: UTF8.self) == #"{"type":"ack"}"#)
        channel.close()
        #expect(await agent.value == message.count + 1)
    }

    /// Without its timeout the exchange would never return: the time limit fails the test then
    /// (how long it took is not asserted: the machine may be busy).
    @Test(.timeLimit(.minutes(1))) func anAgentThatNeverAnswersTimesOut() async throws {
        try ProcessMonitor.shared.start()
        let channel = try AssignmentChannel()
        let agent = Self.agent(channel, reply: nil)
        await #expect(throws: AssignmentChannel.Failure.self) {
            try await channel.exchange(Data("{}".utf8), timeout: .milliseconds(300), monitor: .shared)
        }
        channel.close()
        _ = await agent.value
    }

    @Test func anAgentThatHangsUpIsAnError() async throws {
        try ProcessMonitor.shared.start()
        let channel = try AssignmentChannel()
        let fd = dup(channel.agentDescriptor)
        channel.closeAgentEnd()
        close(fd)
        await #expect(throws: AssignmentChannel.Failure.self) {
            try await channel.exchange(Data("{}".utf8), timeout: .seconds(5), monitor: .shared)
        }
        channel.close()
    }
}
