@testable import CorralPlatform
import Foundation
import Testing

@testable import CorralCore

/// What corral accepts from a template on its control channel: the three messages of the
/// protocol, each with the descriptors it must carry, and nothing else.
@Suite("Template protocol")
struct TemplateProtocolTests {
    static func parse(_ text: String, descriptors: Int = 0) -> Result<TemplateProtocol.Message, ProtocolViolation> {
        TemplateProtocol.parse(Array(text.utf8), descriptors: descriptors)
    }

    @Test func theThreeAnswers() {
        #expect(Self.parse(#"{"type": "forked", "id": 17, "pid": 4711}"#, descriptors: 1) == .success(.forked(request: 17, pid: 4711)))
        #expect(Self.parse(#"{"type": "refused", "id": 17, "error": "out of memory"}"#) == .success(.refused(request: 17, error: "out of memory")))
        #expect(Self.parse(#"{"type": "exited", "pid": 4711, "code": 3}"#) == .success(.exited(pid: 4711, .exited(code: 3))))
        #expect(Self.parse(#"{"type": "exited", "pid": 4711, "signal": 9}"#) == .success(.exited(pid: 4711, .signaled(signal: 9, coreDumped: false))))
    }

    @Test(arguments: [
        ("\u{0}this is not the protocol", 0),
        (#"["forked"]"#, 0),
        (#"{"id": 1}"#, 0),
        (#"{"type": "forked", "id": 17, "pid": 4711}"#, 0),
        (#"{"type": "forked", "id": 17, "pid": 4711}"#, 2),
        (#"{"type": "forked", "id": 0, "pid": 4711}"#, 1),
        (#"{"type": "forked", "id": 17, "pid": 1}"#, 1),
        (#"{"type": "forked", "id": 17.5, "pid": 4711}"#, 1),
        (#"{"type": "refused", "error": "x"}"#, 0),
        (#"{"type": "refused", "id": 3}"#, 1),
        (#"{"type": "exited", "pid": 4711}"#, 0),
        (#"{"type": "exited", "pid": 4711, "code": 256}"#, 0),
        (#"{"type": "exited", "pid": 4711, "code": 1, "signal": 9}"#, 0),
        (#"{"type": "exited", "pid": 4711, "signal": 0}"#, 0),
        (#"{"type": "hello"}"#, 0),
    ])
    func anythingElseIsAViolation(text: String, descriptors: Int) {
        guard case .failure = Self.parse(text, descriptors: descriptors) else {
            Issue.record("accepted \(text) with \(descriptors) descriptors")
            return
        }
    }

    @Test func aForkRequestCarriesWhatTheChildNeeds() throws {
        let fork = TemplateProtocol.Fork(
            id: 9, sessionID: SessionID("call-7")!, idle: true, environment: ["CORRAL_SESSION_ID": "call-7", "A": "1/2"],
            workingDirectory: "/srv", descriptors: [.log, .cgroup, .cgroup, .assign]
        )
        let decoded = try #require(try JSONSerialization.jsonObject(with: fork.encoded) as? [String: Any])
        #expect(decoded["type"] as? String == "fork")
        #expect(decoded["id"] as? Int == 9)
        #expect(decoded["session_id"] as? String == "call-7")
        #expect(decoded["idle"] as? Bool == true)
        #expect(decoded["cwd"] as? String == "/srv")
        #expect(decoded["env"] as? [String: String] == ["CORRAL_SESSION_ID": "call-7", "A": "1/2"])
        #expect(decoded["fds"] as? [String] == ["log", "cgroup", "cgroup", "assign"])
    }
}
