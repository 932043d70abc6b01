import Foundation

/// The virtualenv `scripts/test` (the README's test command) makes with the packages pinned in
/// `Tests/Fixtures/livekit-requirements.txt` (LiveKit's agent framework, protobufs, aiohttp):
/// its python, or nil when there is none or it was made from other pins (an older venv has only
/// livekit-api, and these tests would fail on an import instead of saying why they do not run).
public let livekitAgentsPython: String? = {
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let venv = package.appendingPathComponent(".build/livekit-venv")
    let python = venv.appendingPathComponent("bin/python").path
    let pinned = try? String(contentsOf: package.appendingPathComponent("Tests/Fixtures/livekit-requirements.txt"), encoding: .utf8)
    let installed = try? String(contentsOf: venv.appendingPathComponent("installed-requirements.txt"), encoding: .utf8)
    guard FileManager.default.isExecutableFile(atPath: python), pinned != nil, pinned == installed else { return nil }
    return python
}()

public let livekitAgentsSkipped = "no .build/livekit-venv made from Tests/Fixtures/livekit-requirements.txt: run the tests with scripts/test, which makes it; skipped"
