import CorralTestSupport
import Foundation
import Testing

/// The module graph drawn in docs/architecture.md is the one that builds: each module's own
/// modules (its imports, and its dependencies in Package.swift) are exactly its line there, and
/// every line points only downward.
@Suite("Module graph")
struct ModuleGraphTests {
    static let root = GeneratedSection.repository

    /// `Module → A, B` lines of the graph's code block, in order, top first.
    static func documented() throws -> [(module: String, dependencies: Set<String>)] {
        let page = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        let section = try #require(page.components(separatedBy: "## Modules").dropFirst().first)
        let block = try #require(section.components(separatedBy: "```").dropFirst().first)
        return block.split(separator: "\n").compactMap { line in
            let sides = line.components(separatedBy: "→")
            guard sides.count == 2 else { return nil }
            let dependencies = sides[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return (sides[0].trimmingCharacters(in: .whitespaces), Set(dependencies))
        }
    }

    /// The modules of this package that files under `Sources/module` import.
    static func imports(of module: String, among modules: Set<String>) -> Set<String> {
        let folder = root.appendingPathComponent("Sources/\(module)").path
        var found: Set<String> = []
        let files = FileManager.default.enumerator(atPath: folder)
        while let file = files?.nextObject() as? String {
            guard file.hasSuffix(".swift"), let text = try? String(contentsOfFile: folder + "/" + file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count, words[..<index].allSatisfy({ $0.hasPrefix("@") }) else { continue }
                let name = String(words[index + 1])
                if modules.contains(name) { found.insert(name) }
            }
        }
        return found
    }

    /// Package.swift's targets and the package's own targets each depends on (by name, as
    /// `"Name"` in its dependencies).
    static func declared() throws -> [String: Set<String>] {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        var targets: [String: Set<String>] = [:]
        let pieces = manifest.components(separatedBy: "Target(").dropFirst() + manifest.components(separatedBy: ".target(").dropFirst()
        for piece in pieces {
            guard let nameStart = piece.range(of: "name: \"") else { continue }
            let rest = piece[nameStart.upperBound...]
            guard let nameEnd = rest.firstIndex(of: "\"") else { continue }
            let name = String(rest[..<nameEnd])
            var dependencies: Set<String> = []
            if let list = piece.range(of: "dependencies: [") {
                // Plain target names are quoted at the list's top level; products are `.product(...)`.
                var depth = 0
                var current = ""
                var inString = false
                scan: for character in piece[list.upperBound...] {
                    switch character {
                    case "(", "[": depth += 1
                    case ")": depth -= 1
                    case "]":
                        if depth == 0 { break scan }
                        depth -= 1
                    case "\"" where depth == 0:
                        if inString { dependencies.insert(current) }
                        inString.toggle()
                        current = ""
                    default: if inString { current.append(character) }
                    }
                }
            }
            targets[name] = dependencies
        }
        return targets
    }

    @Test func theDocumentedGraphIsTheOneThatBuilds() throws {
        let graph = try Self.documented()
        let declared = try Self.declared()
        let modules = Set(graph.map(\.module))
        let sources = Set((try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources").path)))
        #expect(modules == sources, "docs/architecture.md's graph lists \(modules.sorted()); Sources has \(sources.sorted())")
        for (module, dependencies) in graph {
            let imported = Self.imports(of: module, among: modules)
            #expect(imported == dependencies, "\(module) imports \(imported.sorted()); docs/architecture.md says \(dependencies.sorted())")
            let inManifest = (declared[module] ?? []).intersection(modules)
            #expect(inManifest == dependencies, "\(module) depends on \(inManifest.sorted()) in Package.swift; docs/architecture.md says \(dependencies.sorted())")
        }
    }

    /// Each module depends only on modules listed below it: no cycle, and the page reads top down.
    @Test func everyDependencyPointsDown() throws {
        let graph = try Self.documented()
        for (index, line) in graph.enumerated() {
            let below = Set(graph[(index + 1)...].map(\.module))
            #expect(line.dependencies.isSubset(of: below), "\(line.module) depends on \(line.dependencies.subtracting(below).sorted()), listed above it")
        }
    }

    /// The test reads what it must: a graph that lies about a module is found.
    @Test func aWrongLineIsFound() throws {
        let graph = try Self.documented()
        let modules = Set(graph.map(\.module))
        let store = try #require(graph.first { $0.module == "CorralStore" })
        #expect(Self.imports(of: "CorralStore", among: modules) != store.dependencies.union(["CorralCore"]))
        #expect(try Self.declared()["CorralServer"]?.contains("CorralCore") == true)
    }
}
