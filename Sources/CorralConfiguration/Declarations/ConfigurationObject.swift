import CorralPlatform
/// The keys of one JSON object of the configuration (the whole file, an agent profile, `livekit`)
/// and the value they are read into: a fresh `initial` that each given key changes. Keys are read
/// in the order they are declared; unknown keys are errors that list the known ones.
package struct ConfigurationObject<Root, Object: Sendable>: Sendable {
    let initial: Object
    let keys: [ConfigurationKey<Root, Object>]

    init(_ initial: Object, keys: [ConfigurationKey<Root, Object>]) {
        self.initial = initial
        self.keys = keys
    }

    var names: [String] { keys.map(\.name) }

    /// Reads `fields`, an object's members, at `context`.
    func read(_ fields: [String: JSONValue], _ context: ConfigurationContext<Root, Object>) throws(CorralError) -> Object {
        let names = self.names
        if let unknown = fields.keys.filter({ !names.contains($0) }).sorted().first {
            throw context.member(unknown, place: context.place).error(UnknownKey.message(unknown, known: names))
        }
        return try read { key in (fields[key.name], context.member(key.name, place: context.place)) }
    }

    /// Reads each key's value as `given` finds it, with the context that names it.
    func read(
        _ given: (ConfigurationKey<Root, Object>) throws(CorralError) -> (JSONValue?, ConfigurationContext<Root, Object>)
    ) throws(CorralError) -> Object {
        var object = initial
        for key in keys {
            let (value, context) = try given(key)
            try key.read(value, context, &object)
        }
        return object
    }
}
