import CorralCore
import Foundation
import Testing

@Suite("Audit log")
struct AuditLogTests {
    func temporaryPath() throws -> String {
        let directory = NSTemporaryDirectory() + "corral-audit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/audit.log"
    }

    func lines(_ path: String) -> [[String: Any]] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    @Test func linesAreJSONAndTheFileIsPrivate() throws {
        let path = try temporaryPath()
        let audit = try AuditLog(path: path, maxBytes: 0)
        audit.record(.init(who: "ops", role: .operate, action: "start", session: "s1", address: "127.0.0.1:5000", result: 201))
        audit.record(.init(who: "ops", role: .operate, action: "end", session: "s1", address: "127.0.0.1:5000", result: 200))
        let entries = lines(path)
        #expect(entries.count == 2)
        #expect(entries[0]["who"] as? String == "ops" && entries[0]["action"] as? String == "start" && entries[0]["result"] as? Int == 201)
        #expect(entries[1]["session"] as? String == "s1" && entries[1]["address"] as? String == "127.0.0.1:5000")
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
    }

    @Test func aLineCutShortByACrashDoesNotSpoilTheNext() throws {
        let path = try temporaryPath()
        try #"{"who":"ops","action":"start","res"#.write(toFile: path, atomically: false, encoding: .utf8)
        let audit = try AuditLog(path: path, maxBytes: 0)
        audit.record(.init(who: "ops", role: .admin, action: "end", session: "s2", address: nil, result: 200))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2)
        #expect(lines(path).map { $0["session"] as? String } == ["s2"])
    }

    @Test func rotatesBySize() throws {
        let path = try temporaryPath()
        let audit = try AuditLog(path: path, maxBytes: 300)
        for index in 0..<10 {
            audit.record(.init(who: "ops", role: .admin, action: "start", session: "s\(index)", address: nil, result: 201))
        }
        #expect(FileManager.default.fileExists(atPath: path + ".1"))
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0) < 600)
        #expect(lines(path).last?["session"] as? String == "s9")
    }
}
