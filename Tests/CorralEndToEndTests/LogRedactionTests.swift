import AsyncHTTPClient
import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

/// Logs read by a `read` token never start in the middle of a line, where the rest of a secret
/// would stand without the name that gets it redacted.
@Suite("Log redaction at line starts")
struct LogRedactionTests {
    /// With a file `START` named, writes `begin` and a line end first and waits for that file.
    /// Then writes `FILLER` bytes and a newline, then `API_KEY=V4LUE-` without ending the line,
    /// and once the file `GO` exists the rest of the secret and one more line; then exits, or stays.
    static let agent = """
        import os, sys, time
        go, filler, then = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        def wait(path):
            while not os.path.exists(path):
                time.sleep(0.05)
        if len(sys.argv) > 4:
            os.write(1, b"begin\\n")
            wait(sys.argv[4])
        os.write(1, (b"x" * filler + b"\\n" if filler else b"") + b"API_KEY=V4LUE-")
        wait(go)
        os.write(1, b"s3cr3t-rest\\nafter\\n")
        if then == "stay":
            time.sleep(1000)
        """

    static let admin = ["Authorization": "Bearer admin-token"]
    static let viewer = ["Authorization": "Bearer read-token"]

    func prepare(_ bed: CrashTestBed, go: String, filler: Int, then: String, start: String? = nil) {
        var agents = bed.config["agents"] as? [String: Any] ?? [:]
        let command = ["/usr/bin/env", "python3", "-c", Self.agent, go, String(filler), then] + (start.map { [$0] } ?? [])
        agents["midline"] = ["command": command, "env": ["CORRAL_TEST_RUN": bed.tag]]
        bed.config["agents"] = agents
        bed.config["api_token"] = "admin-token"
        let digest = sha256("read-token").map { String(format: "%02x", $0) }.joined()
        bed.config["tokens"] = [["name": "viewer", "sha256": digest, "role": "read"]]
    }

    @Test func aFollowedLogStartsAtTheLineBeingWritten() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let go = bed.directory + "/go"
            prepare(bed, go: go, filler: 0, then: "exit")
            let corral = try await bed.startCorral()
            let started = try await corral.request(.POST, "/api/sessions", body: #"{"agent": "midline", "session_id": "midline"}"#, headers: Self.admin)
            #expect(started.status == 201, "\(started.text)")
            #expect(try await ProcessProbe.waitUntil { try await corral.request(.GET, "/api/sessions/midline/logs", headers: Self.admin).text.contains("V4LUE-") })

            var request = HTTPClientRequest(url: "http://127.0.0.1:\(corral.port)/api/sessions/midline/logs?tail=0&follow=true")
            request.headers.add(name: "Authorization", value: "Bearer read-token")
            let response = try await TestHTTP.client.execute(request, timeout: .seconds(60))
            #expect(response.status == .ok)
            // Where the stream starts is settled once its head has arrived: only now does the line end.
            #expect(FileManager.default.createFile(atPath: go, contents: nil))
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            #expect(text == "API_KEY=[redacted]\nafter\n")
        }
    }

    @Test func aLogRotatedMidLineDropsTheRestOfThatLine() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["log_max_bytes": 4096, "watch_interval_seconds": 0.2]) { bed in
            let go = bed.directory + "/go"
            prepare(bed, go: go, filler: 5000, then: "stay")
            let corral = try await bed.startCorral()
            let started = try await corral.request(.POST, "/api/sessions", body: #"{"agent": "midline", "session_id": "rotated"}"#, headers: Self.admin)
            #expect(started.status == 201, "\(started.text)")
            let log = bed.dataDirectory + "/logs/rotated.log"
            // One write put the filler and the start of the secret in the log: the rotation (sizes
            // are looked at every 3 s here) moves both aside, and the log starts again mid-line.
            #expect(
                await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                    (try? String(contentsOfFile: DataDirectory.rotatedCopy(of: log), encoding: .utf8))?.hasSuffix("API_KEY=V4LUE-") == true
                },
                "the log was not rotated"
            )
            #expect(FileManager.default.createFile(atPath: go, contents: nil))
            #expect(try await ProcessProbe.waitUntil { try await corral.request(.GET, "/api/sessions/rotated/logs", headers: Self.admin).text.contains("after") })

            #expect(try await corral.request(.GET, "/api/sessions/rotated/logs", headers: Self.admin).text == "s3cr3t-rest\nafter\n")
            #expect(try await corral.request(.GET, "/api/sessions/rotated/logs", headers: Self.viewer).text == "after\n")
            #expect(try await corral.request(.DELETE, "/api/sessions/rotated", headers: Self.admin).status == 200)
        }
    }

    /// A follow opened as a viewer.
    func follow(_ corral: CorralProcess, _ id: String) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(corral.port)/api/sessions/\(id)/logs?follow=true")
        request.headers.add(name: "Authorization", value: "Bearer read-token")
        let response = try await TestHTTP.client.execute(request, timeout: .seconds(60))
        #expect(response.status == .ok)
        return response
    }

    /// Rotations every 3 s at most here, of a log over 4 KiB.
    static var rotating: [String: Any] { ["log_max_bytes": 4096, "watch_interval_seconds": 0.2] }

    /// The log was just emptied by a rotation in the middle of `API_KEY=V4LUE-…`: a follow that
    /// starts then must leave out what the agent writes next up to its first newline (the rest of
    /// the secret), as a read without follow does.
    @Test func aFollowStartingRightAfterARotationDropsTheRestOfTheCutLine() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: Self.rotating) { bed in
            let go = bed.directory + "/go"
            prepare(bed, go: go, filler: 5000, then: "stay")
            let corral = try await bed.startCorral()
            #expect(try await corral.request(.POST, "/api/sessions", body: #"{"agent": "midline", "session_id": "emptied"}"#, headers: Self.admin).status == 201)
            let log = bed.dataDirectory + "/logs/emptied.log"
            #expect(
                await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                    (try? String(contentsOfFile: DataDirectory.rotatedCopy(of: log), encoding: .utf8))?.hasSuffix("API_KEY=V4LUE-") == true
                },
                "the log was not rotated"
            )
            #expect((try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) == 0)
            let response = try await follow(corral, "emptied")
            #expect(FileManager.default.createFile(atPath: go, contents: nil))
            #expect(try await ProcessProbe.waitUntil { try await corral.request(.GET, "/api/sessions/emptied/logs", headers: Self.admin).text.contains("after") })
            #expect(try await corral.request(.DELETE, "/api/sessions/emptied", headers: Self.admin).status == 200)
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            #expect(text == "after\n")
        }
    }

    /// A follow under way when the log is rotated in the middle of `API_KEY=V4LUE-…`: what it
    /// read of that line is sent redacted, the rest of the secret (the new log's first partial
    /// line) never.
    @Test func aFollowAcrossARotationDropsTheRestOfTheCutLine() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: Self.rotating) { bed in
            let (start, go) = (bed.directory + "/start", bed.directory + "/go")
            prepare(bed, go: go, filler: 5000, then: "stay", start: start)
            let corral = try await bed.startCorral()
            #expect(try await corral.request(.POST, "/api/sessions", body: #"{"agent": "midline", "session_id": "across"}"#, headers: Self.admin).status == 201)
            #expect(try await ProcessProbe.waitUntil { try await corral.request(.GET, "/api/sessions/across/logs", headers: Self.admin).text == "begin\n" })
            let response = try await follow(corral, "across")
            #expect(FileManager.default.createFile(atPath: start, contents: nil))
            let log = bed.dataDirectory + "/logs/across.log"
            #expect(
                await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                    (try? String(contentsOfFile: DataDirectory.rotatedCopy(of: log), encoding: .utf8))?.hasSuffix("API_KEY=V4LUE-") == true
                },
                "the log was not rotated"
            )
            #expect(FileManager.default.createFile(atPath: go, contents: nil))
            #expect(try await ProcessProbe.waitUntil { try await corral.request(.GET, "/api/sessions/across/logs", headers: Self.admin).text.contains("after") })
            #expect(try await corral.request(.DELETE, "/api/sessions/across", headers: Self.admin).status == 200)
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            // How much of the filler and the cut line the follow read before the rotation depends
            // on timing; whatever it read is sent, the rest of the secret never.
            #expect(text.hasPrefix("begin\n") && text.hasSuffix("\nafter\n"), "\(text.suffix(200))")
            #expect(!text.contains("V4LUE") && !text.contains("s3cr3t"), "\(text.suffix(200))")
            let lines = text.split(separator: "\n").dropFirst().dropLast()
            #expect(lines.allSatisfy { $0 == "API_KEY=[redacted]" || $0.allSatisfy { $0 == "x" } }, "\(text.suffix(200))")
        }
    }
}
