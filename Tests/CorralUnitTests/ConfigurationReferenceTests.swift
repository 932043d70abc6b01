import CorralSecurity
import CorralTestSupport
import Foundation
import Testing

@testable import CorralCore
@testable import CorralConfiguration

/// docs/configuration.md says what the key declarations say: its table of keys is the one
/// `ConfigurationReference` makes from them (`scripts/update-reference` writes it), and its
/// example loads.
/// Serialized: run by scripts/update-reference, the first test writes the table the others read.
@Suite("Configuration reference", .serialized)
struct ConfigurationReferenceTests {
    static let table = GeneratedSection(
        page: "docs/configuration.md",
        begin: "<!-- configuration keys: made from the key declarations by scripts/update-reference; ConfigurationReferenceTests checks them -->",
        end: "<!-- end of configuration keys -->"
    )

    static var page: String {
        (try? String(contentsOf: table.url, encoding: .utf8)) ?? ""
    }

    @Test func theTableIsTheDeclarations() throws {
        let made = ConfigurationReference.markdown
        let written = try Self.table.settle(made)
        #expect(written == made, "\(Self.table.mismatch(made))")
    }

    /// The same, key by key, for a failure that says which key is missing where.
    @Test func everyDeclaredKeyIsInTheTableAndEveryKeyThereIsDeclared() throws {
        let documented = Set(try Self.table.current().split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.dropFirst(3).split(separator: "`", maxSplits: 1).first.map(String.init)
        })
        let declared = Set(ConfigurationReference.rows(ConfigurationLoader.keys).map(\.key))
        #expect(declared.subtracting(documented).sorted() == [], "declared, not in docs/configuration.md's table")
        #expect(documented.subtracting(declared).sorted() == [], "in docs/configuration.md's table, not declared")
        #expect(declared.isSuperset(of: ConfigurationLoader.keys.names + AgentProfile.keys.names.map { "agents.*." + $0 }))
        #expect(declared.isSuperset(of: LiveKitConfiguration.keys.names.map { "livekit." + $0 } + AccessToken.keys.names.map { "tokens[]." + $0 }))
    }

    /// The page's example loads as it is (it had `node_id: null`, which the loader refused).
    @Test func theExampleLoads() throws {
        let page = Self.page
        let opening = page.range(of: "```json\n")
        let start = try #require(opening, "docs/configuration.md has no JSON example")
        let closing = page[start.upperBound...].range(of: "```")
        let stop = try #require(closing)
        let path = NSTemporaryDirectory() + "corral-reference-" + UUID().uuidString + ".json"
        try Data(page[start.upperBound..<stop.lowerBound].utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try ConfigurationLoader.load(file: path, environment: [:], workingDirectory: "/srv")
        #expect(configuration.nodeID == CorralConfiguration.hostName, "node_id: null is the host name")
        #expect(configuration.agents["demo"]?.command == ["/usr/bin/env", "python3", "agent.py"])
    }
}
