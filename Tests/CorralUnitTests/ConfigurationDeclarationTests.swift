@testable import CorralPlatform
import Testing

@testable import CorralCore
@testable import CorralConfiguration

/// The declaration machinery on a small configuration of its own: nested objects (in a map and
/// optional) whose keys default to another key's value, worked out once every key is read, the
/// way a profile's `max_jobs` would default to `max_sessions`.
@Suite("Configuration declarations")
struct ConfigurationDeclarationTests {
    struct Toy: Sendable {
        var items: [String: Item] = [:]
        var extra: Item?
        var limit = 4
    }

    struct Item: Sendable, Equatable {
        var name = ""
        var cap = 0
    }

    static let itemKeys = ConfigurationObject<Toy, Item>(
        Item(),
        keys: [
            .key("name", .nonEmptyString, \.name, required: true, orNull: true, doc: "the item's name"),
            .key("cap", .integer(minimum: 1), \.cap, orNull: true, default: .derived("`limit`") { $0.limit }, doc: "the item's cap"),
        ]
    )

    /// `limit` is declared after the objects whose defaults come from it.
    static let toyKeys = ConfigurationObject<Toy, Toy>(
        Toy(),
        keys: [
            .key("items", .map(of: .object(itemKeys, "an item"), "an object of items"), \.items, doc: "the items"),
            .key("extra", .object(itemKeys, "an item"), \.extra, doc: "one more item"),
            .key("limit", .integer(minimum: 1), \.limit, doc: "the default cap"),
        ]
    )

    func read(_ json: String) throws(CorralError) -> Toy {
        guard case .object(let fields)? = JSONValue.parse(Array(json.utf8)) else { throw ConfigurationLoader.configurationError("not an object") }
        let reading = ConfigurationReading<Toy>(workingDirectory: "/")
        var toy = try Self.toyKeys.read { key in
            (fields[key.name], ConfigurationContext(path: key.name, label: key.name, place: .root(), reading: reading))
        }
        try reading.settle(&toy)
        return toy
    }

    @Test func aNestedDefaultComesFromAKeyReadLater() throws {
        let toy = try read(#"{"items": {"a": {"name": "a"}, "b": {"name": "b", "cap": 2}, "c": {"name": "c", "cap": null}}, "extra": {"name": "x"}, "limit": 9}"#)
        #expect(toy.items == ["a": Item(name: "a", cap: 9), "b": Item(name: "b", cap: 2), "c": Item(name: "c", cap: 9)])
        #expect(toy.extra == Item(name: "x", cap: 9))
    }

    @Test func theDefaultFollowsTheOtherKeysDefault() throws {
        let toy = try read(#"{"items": {"a": {"name": "a"}}}"#)
        #expect(toy.items["a"]?.cap == 4)
        #expect(toy.extra == nil)
    }

    @Test func nestedMistakesNameTheirPath() {
        #expect(throws: CorralError.self) { try read(#"{"items": {"a": {}}}"#) }
        do {
            _ = try read(#"{"items": {"a": {"name": "a", "cap": 0}}}"#)
            Issue.record("a cap of 0 was accepted")
        } catch {
            #expect(error.message.contains("items.a.cap: must be at least 1"), "\(error.message)")
        }
        do {
            _ = try read(#"{"extra": {"name": "x", "size": 1}}"#)
            Issue.record("an unknown key was accepted")
        } catch {
            #expect(error.message.contains("extra.size: unknown key (known: name, cap)"), "\(error.message)")
        }
    }

    @Test func theReferenceShowsNestedKeysAndDerivedDefaults() {
        let rows = ConfigurationReference.rows(Self.toyKeys)
        #expect(rows.map(\.key) == ["items", "items.*.name", "items.*.cap", "extra", "extra.name", "extra.cap", "limit"])
        #expect(rows.first { $0.key == "items.*.cap" }?.defaultValue == "`limit`")
        #expect(rows.first { $0.key == "items.*.name" }?.defaultValue == "required")
        #expect(rows.first { $0.key == "limit" }?.defaultValue == "`4`")
    }
}
