import CorralCore
import CorralTestSupport
import Foundation
import Testing
import CorralConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// Every configuration shipped in `examples/` and `deploy/` loads through the real loader, as
/// someone following the docs would start it: the files it names (token and secret files)
/// exist, with content made here, and the users it runs agents as exist on this machine. And
/// `corral check` accepts each as it is, here, making nothing.
@Suite("Example configurations")
struct ExampleConfigurationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The trees shipped configurations are in; one that does not exist (yet) has none.
    static let trees = ["examples", "deploy"]

    /// Every JSON file under `trees` that is a corral configuration: an object with `agents`, or
    /// a file named `corral*.json`. Found afresh each run, so a new one is covered.
    static let configurations: [String] = trees.flatMap { tree in
        let root = repository.appendingPathComponent(tree).path
        let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        return files.filter { path in
            guard path.hasSuffix(".json") else { return false }
            let name = URL(fileURLWithPath: path).lastPathComponent
            let object = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/" + path)))) as? [String: Any]
            return name.hasPrefix("corral") || object?["agents"] != nil
        }.map { tree + "/" + $0 }
    }.sorted()

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

    /// `corral check` on the configuration as shipped, not strict: it names hosts, files, users
    /// and programs of the machine it is meant for, which are warnings here, never errors. Run in
    /// an empty directory, which it leaves empty (a relative `data_dir` is not made).
    @Test(arguments: configurations)
    func exampleChecks(_ path: String) async throws {
        let directory = NSTemporaryDirectory() + "corral-example-check-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = Self.repository.appendingPathComponent(path).path
        let result = try await CommandRunner.run(CorralProcess.executable, ["check", "--config", file, "--json"], workingDirectory: directory)
        #expect(result.status == 0, "\(path): \(result.output)\(result.errors)")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        #expect((output["errors"] as? [Any])?.isEmpty == true, "\(output)")
        #expect((output["agents"] as? [Any])?.isEmpty == false, "\(output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "corral check wrote in its working directory")
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
