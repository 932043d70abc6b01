import CorralPlatform
/// What a key left out (or null, where null means the default) is worth.
enum ConfigurationDefault<Root, Value>: Sendable {
    /// The field's value in a fresh object (`CorralConfiguration()`), shown as JSON.
    case initial
    /// The field's value in a fresh object, shown in words (a value that depends on the machine).
    case described(String)
    /// Worked out once every key is read, from the configuration (`max_jobs` from
    /// `max_sessions`); shown in words.
    case derived(String, @Sendable (Root) -> Value)
}

/// One configuration key, declared once: its name, the type its value is read as (with the
/// checks of the type), its default, the checks of its own, where the value goes, what is left
/// to do once every key is read, and the line that documents it. `ConfigurationObject` reads a
/// list of them; docs/configuration.md's table is made from them (`ConfigurationReference`).
struct ConfigurationKey<Root, Object>: Sendable {
    /// The key in the file.
    let name: String
    /// More environment variables that set a top-level key (besides `CORRAL_<KEY>`), in order of
    /// precedence after it.
    let aliases: [String]
    let doc: String
    /// Null is the same as leaving the key out.
    let acceptsNull: Bool
    let required: Bool
    let type: (summary: String, environment: ConfigurationEnvironmentForm, members: [ConfigurationReference.Row])
    /// The default as the reference shows it, given a fresh object.
    let showDefault: @Sendable (Object) -> String
    /// Reads the key's value (nil: left out) into the object. The context names the key; its
    /// place is the object's.
    let read: @Sendable (JSONValue?, ConfigurationContext<Root, Object>, inout Object) throws(CorralError) -> Void
}

extension ConfigurationKey {
    /// A key whose value goes to `keyPath`.
    ///
    /// - Parameters:
    ///   - check: what is wrong with a value that its type allows, or nil.
    ///   - settle: runs once every key is read (given or not), to make a value depend on other
    ///     keys (a path relative to `data_dir`).
    static func key<Value>(
        _ name: String,
        _ type: ConfigurationType<Root, Value>,
        _ keyPath: WritableKeyPath<Object, Value> & Sendable,
        aliases: [String] = [],
        required: Bool = false,
        orNull: Bool = false,
        default: ConfigurationDefault<Root, Value> = .initial,
        check: (@Sendable (Value) -> String?)? = nil,
        settle: (@Sendable (inout Value, ConfigurationSettling<Root>) throws(CorralError) -> Void)? = nil,
        doc: String
    ) -> Self {
        let later = Self.afterwards(`default`, settle)
        return Self(
            name: name, aliases: aliases, doc: doc, acceptsNull: orNull, required: required,
            type: (type.summary, type.environmentForm, type.members),
            showDefault: { object in Self.show(`default`) { type.show(object[keyPath: keyPath]) } }
        ) { value, context, object throws(CorralError) in
            let place = context.place?.appending(keyPath)
            let given = try Self.parse(value, orNull: orNull, required: required, type, check, context.at(place)) {
                object[keyPath: keyPath] = $0
            }
            guard let later else { return }
            guard let place else {
                preconditionFailure("\(context.path): a key with work for later inside a value that is transformed once read")
            }
            context.reading.afterwards(at: place, label: context.label, given: given, later)
        }
    }

    /// A key whose value goes to an optional field: null, like leaving the key out, keeps the
    /// field as it is (nil, unless the object starts with something else).
    static func key<Value>(
        _ name: String,
        _ type: ConfigurationType<Root, Value>,
        _ keyPath: WritableKeyPath<Object, Value?> & Sendable,
        aliases: [String] = [],
        default: ConfigurationDefault<Root, Value?> = .initial,
        check: (@Sendable (Value) -> String?)? = nil,
        settle: (@Sendable (inout Value?, ConfigurationSettling<Root>) throws(CorralError) -> Void)? = nil,
        doc: String
    ) -> Self {
        let show = type.show
        let optional = ConfigurationType<Root, Value?>(
            summary: type.summary, environment: type.environmentForm, members: type.members,
            show: { $0.map(show) ?? "null" }
        ) { value, context throws(CorralError) in
            try type.read(value, context.at(context.place?.unwrapped()))
        }
        return key(
            name, optional, keyPath, aliases: aliases, orNull: true, default: `default`,
            check: check.map { check in { @Sendable value in value.flatMap(check) } }, settle: settle, doc: doc
        )
    }

    /// A key whose value `set` puts into the object (where it is not one field, or goes into one
    /// together with another key's). Such a key has no default of its own to show: `default`
    /// says what leaving it out means.
    static func key<Value>(
        _ name: String,
        _ type: ConfigurationType<Root, Value>,
        set: @escaping @Sendable (inout Object, Value, ConfigurationContext<Root, Value>) throws(CorralError) -> Void,
        default: String,
        doc: String
    ) -> Self {
        Self(
            name: name, aliases: [], doc: doc, acceptsNull: true, required: false,
            type: (type.summary, type.environmentForm, type.members), showDefault: { _ in `default` }
        ) { value, context, object throws(CorralError) in
            let context: ConfigurationContext<Root, Value> = context.unplaced()
            _ = try Self.parse(value, orNull: true, required: false, type, nil, context) { value throws(CorralError) in
                try set(&object, value, context)
            }
        }
    }

    /// Reads a given value and hands it to `store`; says whether it was given.
    private static func parse<Value>(
        _ value: JSONValue?,
        orNull: Bool,
        required: Bool,
        _ type: ConfigurationType<Root, Value>,
        _ check: (@Sendable (Value) -> String?)?,
        _ context: ConfigurationContext<Root, Value>,
        store: (Value) throws(CorralError) -> Void
    ) throws(CorralError) -> Bool {
        guard let value, !(orNull && value == .null) else {
            if required { throw context.error("required") }
            return false
        }
        let parsed = try type.read(value, context)
        if let problem = check?(parsed) { throw context.error(problem) }
        try store(parsed)
        context.reading.record(context.path, label: context.label)
        return true
    }

    private static func afterwards<Value>(
        _ fallback: ConfigurationDefault<Root, Value>,
        _ settle: (@Sendable (inout Value, ConfigurationSettling<Root>) throws(CorralError) -> Void)?
    ) -> (@Sendable (inout Value, ConfigurationSettling<Root>) throws(CorralError) -> Void)? {
        guard case .derived(_, let derive) = fallback else { return settle }
        return { value, settling throws(CorralError) in
            if !settling.given { value = derive(settling.root) }
            try settle?(&value, settling)
        }
    }

    private static func show<Value>(_ fallback: ConfigurationDefault<Root, Value>, initial: () -> String?) -> String {
        switch fallback {
        case .initial: initial().map { "`\($0)`" } ?? ""
        case .described(let words), .derived(let words, _): words
        }
    }
}
