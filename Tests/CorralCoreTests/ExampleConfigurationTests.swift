import CorralCore
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every configuration in `examples/` loads through the real loader, as someone following the
/// README would start it: the files it names (token and secret files) exist, with content made
/// here, and the users it runs agents as exist on this machine.
@Suite("Example configurations")
struct ExampleConfigurationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every JSON file under `examples/` that is a corral configuration: an object with `agents`,
    /// or a file named `corral*.json`. Found afresh each run, so a new example is covered.
    static let configurations: [String] = {
        let examples = repository.appendingPathComponent("examples").path
        let files = FileManager.default.enumerator(atPath: examples)?.compactMap { $0 as? String } ?? []
        return files.filter { path in
            guard path.hasSuffix(".json") else { return false }
            let name = URL(fileURLWithPath: path).lastPathComponent
            let object = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: examples + "/" + path)))) as? [String: Any]
            return name.hasPrefix("corral") || object?["agents"] != nil
        }.map { "examples/" + $0 }.sorted()
    }()

    @Test func examplesAreFound() {
        #expect(Self.configurations.contains("examples/livekit/corral.json"), "\(Self.configurations)")
        #expect(Self.configurations.count >= 2, "\(Self.configurations)")
    }

    @Test(arguments: configurations)
    func exampleLoads(_ path: String) throws {
        let directory = NSTemporaryDirectory() + "corral-example-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.repository.appendingPathComponent(path))) as? [String: Any],
            "\(path) is not a JSON object"
        )
        var provided: [String: String] = [:]
        let config = try Self.providing(original, in: directory, provided: &provided)
        let file = directory + "/corral.json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: file))

        let configuration = try ConfigurationLoader.load(file: file, environment: [:], workingDirectory: Self.repository.path)
        #expect(configuration.agents[configuration.defaultAgent] != nil)
        if let token = provided["api_token_file"] { #expect(configuration.apiToken == token) }
        if let secret = provided["api_secret_file"] { #expect(configuration.livekit?.apiSecret == secret) }
        if let agent = (original["livekit"] as? [String: Any])?["auto_dispatch_agent"] as? String {
            #expect(configuration.livekit?.autoDispatchAgent == agent)
            #expect(configuration.agents[agent] != nil)
        }
    }

    /// The configuration with every `…_file` pointing at a file made in `directory` (its content
    /// recorded in `provided`, by key) and every `user` and `group` one that exists here. Not as
    /// root, agents cannot run as another user: then `user` and `group` are left out.
    static func providing(_ value: [String: Any], in directory: String, provided: inout [String: String]) throws -> [String: Any] {
        var result: [String: Any] = [:]
        for (key, item) in value {
            switch item {
            case let object as [String: Any]:
                result[key] = try providing(object, in: directory, provided: &provided)
            case is String where key.hasSuffix("_file"):
                let content = "example-\(key)-\(UUID().uuidString)"
                let file = directory + "/" + key
                try Data((content + "\n").utf8).write(to: URL(fileURLWithPath: file))
                provided[key] = content
                result[key] = file
            case is String where key == "user":
                if geteuid() == 0 { result[key] = "nobody" }
            case is String where key == "group":
                if geteuid() == 0 { result[key] = "nogroup" }
            default:
                result[key] = item
            }
        }
        return result
    }
}
