import CorralPlatform
import Foundation

/// One reading of a configuration: which keys were given and under what name, and the work left
/// for after every key is read (defaults that depend on other keys, paths relative to another
/// key's). Keys are read in the order they are declared, not the file's, so anything that looks
/// at another key waits for this second pass.
final class ConfigurationReading<Root> {
    /// What relative paths in the configuration (`data_dir`) are relative to.
    let workingDirectory: String
    /// Whether problems of the host rather than of the configuration (a file that is not there,
    /// a user this machine does not have) are noted and read past, instead of stopping the
    /// reading: `corral check` may look at a configuration away from the host it is meant for.
    let readsPastHostProblems: Bool
    /// The problems of the host read past, each naming its key.
    private(set) var hostProblems: [ConfigurationFinding] = []
    /// Every key that was given, by its path in the file (`agents.a.user`), with the name a
    /// message uses for it (`CORRAL_AGENTS.a.user` when it came from the environment).
    private(set) var given: [String: String] = [:]
    private var pending: [(inout Root) throws(CorralError) -> Void] = []

    init(workingDirectory: String, readsPastHostProblems: Bool = false) {
        self.workingDirectory = workingDirectory
        self.readsPastHostProblems = readsPastHostProblems
    }

    /// A problem of the host with the key `label`: an error, or noted where the reading reads
    /// past them.
    func hostProblem(_ problem: String, label: String) throws(CorralError) {
        guard readsPastHostProblems else { throw ConfigurationLoader.configurationError("\(label): \(problem)") }
        hostProblems.append(ConfigurationFinding(key: label, message: problem))
    }

    func record(_ path: String, label: String) {
        given[path] = label
    }

    /// Runs `settle` on the value at `place` once every key is read; `label` names its key in
    /// messages, `given` says whether the key was given.
    func afterwards<Value>(
        at place: ConfigurationPlace<Root, Value>,
        label: String,
        given: Bool,
        _ settle: @escaping @Sendable (inout Value, ConfigurationSettling<Root>) throws(CorralError) -> Void
    ) {
        let workingDirectory = self.workingDirectory
        // A local function: the same closure written inline crashes the 6.3 compiler (SILGen,
        // typed throws with an inout parameter).
        func step(_ root: inout Root) throws(CorralError) {
            guard var value = place.get(root) else { return }
            try settle(&value, ConfigurationSettling(root: root, label: label, given: given, workingDirectory: workingDirectory))
            place.set(&root, value)
        }
        pending.append(step)
    }

    /// The second pass, in the order the keys were read (so a key settles after the keys
    /// declared before it, and an object's keys before the object).
    func settle(_ root: inout Root) throws(CorralError) {
        for step in pending { try step(&root) }
        pending = []
    }
}

/// What a value being settled may look at: the whole configuration as read so far, and whether
/// its key was given.
struct ConfigurationSettling<Root> {
    /// The configuration with every key read and the keys before this one settled.
    let root: Root
    /// The key's name in messages.
    let label: String
    /// Whether the key was given (not left out, and not null where null means the default).
    let given: Bool
    let workingDirectory: String

    /// `path` made absolute against the working directory, `.` and `..` resolved.
    func absolute(_ path: String) -> String {
        let joined = path.hasPrefix("/") ? path : workingDirectory + "/" + path
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }

    func error(_ problem: String) -> CorralError {
        ConfigurationLoader.configurationError("\(label): \(problem)")
    }
}

/// Where a value being read ends up in the configuration: what reaches it there for the work
/// left for after every key is read. Nil where a value is transformed after it is read (no way
/// back to where it lands), which a key with work left over must not be inside.
struct ConfigurationPlace<Root, Value> {
    /// The value, if it is there (an entry of a map, a value inside an optional).
    let get: (Root) -> Value?
    let set: (inout Root, Value) -> Void

    static func root() -> ConfigurationPlace<Root, Root> {
        ConfigurationPlace<Root, Root>(get: { $0 }, set: { root, value in root = value })
    }

    /// The place of a part of the value: `part` reads it from the value, `write` writes it back
    /// (nil, and nothing written, where the part is not there).
    private func through<Next>(
        _ part: @escaping (Value) -> Next?,
        _ write: @escaping (inout Value, Next) -> Void
    ) -> ConfigurationPlace<Root, Next> {
        let (get, set) = (self.get, self.set)
        return ConfigurationPlace<Root, Next>(
            get: { root in get(root).flatMap(part) },
            set: { root, next in
                guard var value = get(root) else { return }
                write(&value, next)
                set(&root, value)
            }
        )
    }

    func appending<Next>(_ keyPath: WritableKeyPath<Value, Next>) -> ConfigurationPlace<Root, Next> {
        through({ $0[keyPath: keyPath] }, { $0[keyPath: keyPath] = $1 })
    }

    /// The wrapped value, when there is one.
    func unwrapped<Wrapped>() -> ConfigurationPlace<Root, Wrapped> where Value == Wrapped? {
        through({ $0 }, { value, wrapped in if value != nil { value = wrapped } })
    }

    /// The entry `key`, when there is one.
    func entry<Element>(_ key: String) -> ConfigurationPlace<Root, Element> where Value == [String: Element] {
        through({ $0[key] }, { map, element in if map[key] != nil { map[key] = element } })
    }

    /// The element at `index`, when there is one.
    func element<Element>(_ index: Int) -> ConfigurationPlace<Root, Element> where Value == [Element] {
        through({ $0.indices.contains(index) ? $0[index] : nil }) { array, element in
            if array.indices.contains(index) { array[index] = element }
        }
    }
}

/// Where a value is being read: its path in the file (`agents.a.command`), its name in messages
/// (the environment variable's when it came from one: `CORRAL_AGENTS.a.command`), and where it
/// lands.
struct ConfigurationContext<Root, Value> {
    let path: String
    let label: String
    let place: ConfigurationPlace<Root, Value>?
    let reading: ConfigurationReading<Root>

    func error(_ problem: String) -> CorralError {
        ConfigurationLoader.configurationError("\(label): \(problem)")
    }

    /// A problem of the host rather than of the value (a file not there): thrown, or noted where
    /// the reading reads past such problems, after which the caller goes on with what it has.
    func hostProblem(_ problem: String) throws(CorralError) {
        try reading.hostProblem(problem, label: label)
    }

    /// The context of the member `name` of an object or a map.
    func member<Next>(_ name: String, place: ConfigurationPlace<Root, Next>?) -> ConfigurationContext<Root, Next> {
        ConfigurationContext<Root, Next>(path: "\(path).\(name)", label: "\(label).\(name)", place: place, reading: reading)
    }

    /// The context of an array's element.
    func element<Next>(_ index: Int, place: ConfigurationPlace<Root, Next>?) -> ConfigurationContext<Root, Next> {
        ConfigurationContext<Root, Next>(path: "\(path)[\(index)]", label: "\(label)[\(index)]", place: place, reading: reading)
    }

    /// The same position, at `place`.
    func at<Other>(_ place: ConfigurationPlace<Root, Other>?) -> ConfigurationContext<Root, Other> {
        ConfigurationContext<Root, Other>(path: path, label: label, place: place, reading: reading)
    }

    /// The same position, for a value that is transformed after it is read.
    func unplaced<Other>() -> ConfigurationContext<Root, Other> {
        ConfigurationContext<Root, Other>(path: path, label: label, place: nil, reading: reading)
    }
}
