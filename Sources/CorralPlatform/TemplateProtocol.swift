import Foundation

/// The messages of a template's control channel (`docs/templates.md`): one JSON object per
/// datagram of a `SOCK_SEQPACKET` socket, descriptors passed with `SCM_RIGHTS`.
///
/// corral sends `fork`; the template answers each with `forked` (and the pidfd of the child,
/// once the child has placed itself in the session's cgroups) or `refused`, and reports every
/// fork that exits with `exited`.
package enum TemplateProtocol {
    /// The most bytes a template's message may have (its answers are a few dozen).
    static let maxMessage = 64 * 1024

    /// What each descriptor sent with a `fork` is, in the order they are sent.
    package enum Descriptor: String, Sendable {
        /// The session's log: the child's stdout and stderr.
        case log
        /// A `cgroup.procs` of the session (the v2 cgroup, then v1 limit cgroups): the child
        /// writes `0` to each before anything else.
        case cgroup
        /// An idle fork's assignment channel, to become the child's `CORRAL_ASSIGN_FD`.
        case assign
    }

    /// corral → template: fork a child for `sessionID`.
    package struct Fork: Sendable {
        package let id: UInt64
        package let sessionID: SessionID
        /// An idle agent forked ahead of time (it waits on its assignment channel).
        package let idle: Bool
        /// The complete environment a cold agent of this session would get.
        package let environment: [String: String]
        package let workingDirectory: String
        package let descriptors: [Descriptor]

        package var encoded: Data {
            let message: [String: JSONValue] = [
                "type": .string("fork"),
                "id": .number(Double(id)),
                "session_id": .string(sessionID.rawValue),
                "idle": .bool(idle),
                "env": .object(environment.mapValues(JSONValue.string)),
                "cwd": .string(workingDirectory),
                "fds": .array(descriptors.map { .string($0.rawValue) }),
            ]
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(JSONValue.object(message))) ?? Data()
        }

        package init(
            id: UInt64,
            sessionID: SessionID,
            idle: Bool,
            environment: [String: String],
            workingDirectory: String,
            descriptors: [Descriptor]
        ) {
            self.id = id
            self.sessionID = sessionID
            self.idle = idle
            self.environment = environment
            self.workingDirectory = workingDirectory
            self.descriptors = descriptors
        }
    }

    /// template → corral.
    package enum Message: Sendable, Equatable {
        /// Request `request` forked `pid`; its pidfd came with the message.
        case forked(request: UInt64, pid: Int32)
        /// Request `request` could not be forked, and why.
        case refused(request: UInt64, error: String)
        /// A fork exited (the template reaped it).
        case exited(pid: Int32, ExitStatus)
    }

    /// The message in one datagram that came with `descriptors` descriptors, or what is wrong
    /// with it (anything but the protocol is: the template is then replaced).
    package static func parse(_ bytes: [UInt8], descriptors: Int) -> Result<Message, ProtocolViolation> {
        guard case .object(let fields)? = JSONValue.parse(bytes) else {
            return .failure(ProtocolViolation("a message that is not a JSON object: \(preview(bytes))"))
        }
        guard case .string(let type)? = fields["type"] else { return .failure(ProtocolViolation("a message without a \"type\"")) }
        let expected = type == "forked" ? 1 : 0
        guard descriptors == expected else {
            return .failure(ProtocolViolation("\(descriptors) descriptors with a \"\(type)\" message (\(expected) expected)"))
        }
        switch type {
        case "forked":
            guard let request = requestID(fields["id"]), let pid = pid(fields["pid"]) else {
                return .failure(ProtocolViolation("a \"forked\" message without a request id and a pid"))
            }
            return .success(.forked(request: request, pid: pid))
        case "refused":
            guard let request = requestID(fields["id"]) else { return .failure(ProtocolViolation("a \"refused\" message without a request id")) }
            guard case .string(let error)? = fields["error"] else { return .success(.refused(request: request, error: "no reason given")) }
            return .success(.refused(request: request, error: String(error.prefix(1000))))
        case "exited":
            guard let pid = pid(fields["pid"]) else { return .failure(ProtocolViolation("an \"exited\" message without a pid")) }
            switch (fields["code"], fields["signal"]) {
            case (.number(let code)?, nil) where code == code.rounded() && (0...255).contains(code):
                return .success(.exited(pid: pid, .exited(code: Int32(code))))
            case (nil, .number(let signal)?) where signal == signal.rounded() && (1...64).contains(signal):
                return .success(.exited(pid: pid, .signaled(signal: Int32(signal), coreDumped: false)))
            default:
                return .failure(ProtocolViolation("an \"exited\" message without a code (0-255) or a signal (1-64)"))
            }
        default:
            return .failure(ProtocolViolation("a message of unknown type \"\(type.prefix(40))\""))
        }
    }

    private static func requestID(_ value: JSONValue?) -> UInt64? {
        guard case .number(let number)? = value, number >= 1, number < 9e15, number == number.rounded() else { return nil }
        return UInt64(number)
    }

    private static func pid(_ value: JSONValue?) -> Int32? {
        guard case .number(let number)? = value, number >= 2, number <= Double(Int32.max), number == number.rounded() else { return nil }
        return Int32(number)
    }

    private static func preview(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(60), as: UTF8.self)
        return JSONText.string(text) + (bytes.count > 60 ? "…" : "")
    }
}

/// How a template broke the protocol.
package struct ProtocolViolation: Error, Sendable, Equatable, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}
