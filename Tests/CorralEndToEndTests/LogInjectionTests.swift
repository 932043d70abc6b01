import CorralCore
import CorralTestSupport
import Foundation
import Testing

/// Issue 26: a LiveKit server's text (a room name with `\n`) forged lines in corral's text log.
/// The real `corral serve`, in both log formats, gets a signed webhook whose room name holds
/// control characters, and its log is read as an operator's terminal or a log shipper would.
@Suite("corral's own log: outside text cannot forge a line")
struct LogInjectionTests {
    static let room = "lobby\n1999-01-01T00:00:00+0000 critical corral: [CorralServer] forged\r\u{1B}[2J\u{07}\u{00}\u{7F}\u{9B}end"
    static let escaped = #"lobby\n1999-01-01T00:00:00+0000 critical corral: [CorralServer] forged\r\u{1B}[2J\u{7}\u{0}\u{7F}\u{9B}end"#

    @Test(arguments: ["text", "json"])
    func aRoomNameWithControlCharactersStaysInItsLine(format: String) async throws {
        try await CrashTestBed.run(
            containment: .processGroup, extra: ["api_token": "log-token", "livekit": SlowClientTests.livekit, "log_format": format]
        ) { bed in
            let corral = try await bed.startCorral()
            let event: [String: Any] = ["event": "room_finished", "id": "EV_FORGE_\(format)", "room": ["name": Self.room]]
            let body = String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self)
            let reply = try await corral.request(
                .POST, "/api/livekit/webhook", body: body,
                headers: ["Authorization": SlowClientTests.signature(for: body), "Content-Type": "application/webhook+json"]
            )
            #expect(reply.status == 200, "\(reply.text)")
            #expect(await ProcessProbe.waitUntil { corral.log.contains("EV_FORGE_\(format)") }, "\(corral.log)")

            let log = corral.log
            let lines = log.split(separator: "\n")
            let controls = log.unicodeScalars.filter { $0 != "\n" && $0.properties.generalCategory == .control }
            #expect(controls.isEmpty, "control characters in corral's log: \(controls.map(\.value))")
            #expect(!lines.contains { $0.hasPrefix("1999-01-01") || $0.hasPrefix("forged") }, "a forged line: \(log)")
            let line = try #require(lines.first { $0.contains("EV_FORGE_\(format)") })
            if format == "json" {
                for line in lines {
                    #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not a JSON line: \(line)")
                }
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(object["room"] as? String == Self.escaped, "\(line)")
            } else {
                #expect(line.contains("room=\(Self.escaped)"), "\(line)")
            }
        }
    }
}
