import Foundation
import Testing

@testable import CorralCore

/// The README's Configuration section says what the key declarations say: its table of keys is
/// the one `ConfigurationReference` makes from them, and its example loads.
@Suite("Configuration reference")
struct ConfigurationReferenceTests {
    static let readme: String = {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }()

    static let begin = "<!-- configuration keys: made from the key declarations; ConfigurationReferenceTests keeps them the same -->"
    static let end = "<!-- end of configuration keys -->"

    /// The README's Configuration section, up to the next section.
    static var section: Substring {
        guard let start = readme.range(of: "\n## Configuration\n") else { return "" }
        let rest = readme[start.upperBound...]
        return rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
    }

    @Test func theReadmeTableIsTheDeclarations() throws {
        let section = Self.section
        let begins = section.range(of: Self.begin + "\n")
        let start = try #require(begins, "the README's Configuration section has no table of keys")
        let rest = section[start.upperBound...]
        let ends = rest.range(of: Self.end)
        let stop = try #require(ends, "the table of keys has no end marker")
        let table = String(rest[..<stop.lowerBound].dropLast())
        let made = ConfigurationReference.markdown
        #expect(table == made, "README.md's table of configuration keys differs from the declarations; it should read:\n\(made)")
    }

    /// The same, key by key, for a failure that says which key is missing where.
    @Test func everyDeclaredKeyIsInTheReadmeTableAndEveryKeyThereIsDeclared() {
        let documented = Set(Self.section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.dropFirst(3).split(separator: "`", maxSplits: 1).first.map(String.init)
        })
        let declared = Set(ConfigurationReference.rows(ConfigurationLoader.keys).map(\.key))
        #expect(declared.subtracting(documented).sorted() == [], "declared, not in README.md's table")
        #expect(documented.subtracting(declared).sorted() == [], "in README.md's table, not declared")
        #expect(declared.isSuperset(of: ConfigurationLoader.keys.names + AgentProfile.keys.names.map { "agents.*." + $0 }))
        #expect(declared.isSuperset(of: LiveKitConfiguration.keys.names.map { "livekit." + $0 } + AccessToken.keys.names.map { "tokens[]." + $0 }))
    }

    /// The example loads as it is (it had `node_id: null`, which the loader refused).
    @Test func theReadmeExampleLoads() throws {
        let section = Self.section
        let opening = section.range(of: "```json\n")
        let start = try #require(opening, "the README's Configuration section has no JSON example")
        let closing = section[start.upperBound...].range(of: "```")
        let stop = try #require(closing)
        let path = NSTemporaryDirectory() + "corral-readme-" + UUID().uuidString + ".json"
        try Data(section[start.upperBound..<stop.lowerBound].utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try ConfigurationLoader.load(file: path, environment: [:], workingDirectory: "/srv")
        #expect(configuration.nodeID == CorralConfiguration.hostName, "node_id: null is the host name")
        #expect(configuration.agents["demo"]?.command == ["/usr/bin/env", "python3", "agent.py"])
    }
}
