import CorralCore
import CorralSecurity
import CorralTestSupport
import Foundation
import Testing

@Suite("Audit log")
struct AuditLogTests {
    func temporaryPath() throws -> String {
        let directory = NSTemporaryDirectory() + "corral-audit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/audit.log"
    }

    /// Removes the directory `temporaryPath` made for `path`, rotated files and all.
    func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }

    func lines(_ path: String) -> [[String: Any]] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    @Test func linesAreJSONAndTheFileIsPrivate() throws {
        let path = try temporaryPath()
        defer { remove(path) }
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
        defer { remove(path) }
        try #"{"who":"ops","action":"start","res"#.write(toFile: path, atomically: false, encoding: .utf8)
        let audit = try AuditLog(path: path, maxBytes: 0)
        audit.record(.init(who: "ops", role: .admin, action: "end", session: "s2", address: nil, result: 200))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2)
        #expect(lines(path).map { $0["session"] as? String } == ["s2"])
    }

    /// A session id comes from the request's path, where anything may stand: a line carries at
    /// most `Entry.longestSession` bytes of it (never half a character), and its length.
    @Test func everyFieldIsBoundedAndACutSessionKeepsItsLength() throws {
        let path = try temporaryPath()
        defer { remove(path) }
        let audit = try AuditLog(path: path, maxBytes: 0)
        audit.record(.init(who: "viewer", role: .read, action: "inspect", session: String(repeating: "A", count: 15_000), address: "127.0.0.1:5000", result: 200))
        audit.record(.init(who: "viewer", role: .read, action: "inspect", session: String(repeating: "é", count: 100), address: nil, result: 200))
        audit.record(.init(who: String(repeating: "w", count: 5_000), role: .read, action: "inspect", session: "short", address: nil, result: 200))
        let entries = lines(path)
        #expect(entries.count == 3)
        #expect(entries[0]["session"] as? String == String(repeating: "A", count: 128) && entries[0]["session_length"] as? Int == 15_000)
        #expect(entries[1]["session"] as? String == String(repeating: "é", count: 64) && entries[1]["session_length"] as? Int == 200)
        #expect(entries[2]["session"] as? String == "short" && entries[2]["session_length"] == nil)
        #expect((entries[2]["who"] as? String)?.utf8.count == 256)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").allSatisfy { $0.utf8.count < 1024 }, "\(text.prefix(2000))")
    }

    @Test func rotatesBySize() throws {
        let path = try temporaryPath()
        defer { remove(path) }
        let audit = try AuditLog(path: path, maxBytes: 300)
        for index in 0..<10 {
            audit.record(.init(who: "ops", role: .admin, action: "start", session: "s\(index)", address: nil, result: 201))
        }
        #expect(FileManager.default.fileExists(atPath: path + ".1"))
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0) < 600)
        #expect(lines(path).last?["session"] as? String == "s9")
    }
}

@Suite("Audit log: refusals")
struct AuditLogRefusalTests {
    let files = AuditLogTests()

    @Test func anExistingFileIsMadePrivate() throws {
        let path = try files.temporaryPath()
        defer { files.remove(path) }
        try "".write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        _ = try AuditLog(path: path, maxBytes: 0)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
    }

    @Test func refusalsAreSummedUpPerAddressWhenTheWindowEnds() async throws {
        let path = try files.temporaryPath()
        defer { files.remove(path) }
        let audit = try AuditLog(path: path, maxBytes: 0, refusalWindow: .milliseconds(300))
        for _ in 0..<80 { audit.refused(who: "unknown", action: "authenticate", address: "10.0.0.1", result: 401) }
        for _ in 0..<3 { audit.refused(who: "unknown", action: "authenticate", address: "10.0.0.2", result: 401) }
        #expect(await ProcessProbe.waitUntil { files.lines(path).count >= 2 })
        let entries = files.lines(path)
        let counts = Dictionary(uniqueKeysWithValues: entries.map { ($0["address"] as? String ?? "", $0["count"] as? Int ?? 0) })
        #expect(entries.count == 2 && counts == ["10.0.0.1": 80, "10.0.0.2": 3], "\(entries)")
        #expect(entries.allSatisfy { $0["action"] as? String == "authenticate" && $0["result"] as? Int == 401 && $0["since"] is String })
        // A later refusal starts a window of its own.
        audit.refused(who: "unknown", action: "authenticate", address: "10.0.0.1", result: 401)
        #expect(await ProcessProbe.waitUntil { files.lines(path).count == 3 })
        #expect(files.lines(path).last?["count"] as? Int == 1)
    }

    /// A known token's refused or failed requests (issue 26: a read token's 1,500 inspections of
    /// a 15,000-byte id rotated the log twice) are summed up per token, address and kind, with
    /// the session where all of them named the same one.
    @Test func aTokensRefusalsAreSummedUpPerTokenAndKind() throws {
        let path = try files.temporaryPath()
        defer { files.remove(path) }
        let audit = try AuditLog(path: path, maxBytes: 4096)
        audit.record(.init(who: "root", role: .admin, action: "end", session: "kept", address: "127.0.0.1:5000", result: 200))
        let long = String(repeating: "A", count: 15_000)
        for _ in 0..<1_500 { audit.refused(who: "viewer", role: .read, action: "inspect", session: long, address: "127.0.0.1", result: 404) }
        for index in 0..<300 { audit.refused(who: "viewer", role: .read, action: "end", session: "call-\(index)", address: "127.0.0.1", result: 403) }
        audit.flushRefusals()
        #expect(!FileManager.default.fileExists(atPath: path + ".1"), "refusals rotated the file")
        let entries = files.lines(path)
        #expect(entries.count == 3, "\(entries)")
        #expect(entries.first?["session"] as? String == "kept")
        let inspect = try #require(entries.first { $0["action"] as? String == "inspect" })
        #expect(inspect["who"] as? String == "viewer" && inspect["role"] as? String == "read" && inspect["result"] as? Int == 404)
        #expect(inspect["count"] as? Int == 1_500 && inspect["since"] is String)
        #expect(inspect["session"] as? String == String(repeating: "A", count: 128) && inspect["session_length"] as? Int == 15_000)
        let end = try #require(entries.first { $0["action"] as? String == "end" && $0["who"] as? String == "viewer" })
        #expect(end["count"] as? Int == 300 && end["result"] as? Int == 403)
        #expect(end["session"] == nil, "300 sessions are no one session: \(end)")
    }

    @Test func refusalsNeverRotateOutWhatWasDone() throws {
        let path = try files.temporaryPath()
        defer { files.remove(path) }
        let audit = try AuditLog(path: path, maxBytes: 4096)
        audit.record(.init(who: "ops", role: .operate, action: "start", session: "kept", address: "127.0.0.1:5000", result: 201))
        audit.record(.init(who: "ops", role: .operate, action: "end", session: "kept", address: "127.0.0.1:5000", result: 200))
        // Refusals from many addresses: more summaries than the file may hold.
        for round in 0..<3 {
            for host in 0..<200 { audit.refused(who: "unknown", action: "authenticate", address: "10.1.\(round).\(host)", result: 401) }
            audit.flushRefusals()
        }
        #expect(!FileManager.default.fileExists(atPath: path + ".1"), "refusals rotated the file")
        let entries = files.lines(path)
        #expect(entries.filter { $0["session"] as? String == "kept" }.count == 2)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0) <= 2 * 4096)
        // What is done still rotates the file as before.
        for index in 0..<60 { audit.record(.init(who: "ops", role: .operate, action: "start", session: "s\(index)", address: nil, result: 201)) }
        #expect(FileManager.default.fileExists(atPath: path + ".1"))
    }
}
