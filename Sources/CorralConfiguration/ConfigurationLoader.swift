import CorralPlatform
import Foundation

/// Builds a `CorralConfiguration` from a JSON file and the environment.
///
/// Every key is declared once, in `ConfigurationLoader.keys` (the top-level keys,
/// `ConfigurationLoader+Keys.swift`), `AgentProfile.keys` (a profile), `LiveKitConfiguration.keys`
/// (`livekit`) and `AccessToken.keys` (an entry of `tokens`): its name, type, default, checks,
/// where it goes and its documentation. The table of keys in docs/configuration.md is made from them.
///
/// Loading goes in four steps:
/// 1. the file's keys, each overridden by its environment variable (`CORRAL_<KEY>`, or an alias
///    such as `SESSION_TIMEOUT`) where one is set; unknown keys stop here;
/// 2. every key read in the order it is declared: its value parsed and checked, with messages
///    that name the key (and the variable, when the value came from one);
/// 3. every key settled, in the same order: defaults that depend on other keys (the demo agent
///    in `data_dir`) and values relative to another key (`audit_log` in `data_dir`);
/// 4. the checks across keys (`ConfigurationLoader+Checks.swift`).
public enum ConfigurationLoader {
    /// - Parameters:
    ///   - file: a JSON configuration file, or nil for the embedded defaults.
    ///   - environment: the process environment (`CORRAL_<KEY>` overrides).
    ///   - workingDirectory: what relative `data_dir` paths are relative to.
    public static func load(
        file: String?,
        environment: [String: String],
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(CorralError) -> CorralConfiguration {
        try read(file: file, environment: environment, workingDirectory: workingDirectory, readingPastHostProblems: false).configuration
    }

    /// A configuration as it was read: the configuration, the keys that were given (by path,
    /// with the name a message uses for each), and the problems of the host read past.
    package struct Read {
        package let configuration: CorralConfiguration
        package let given: [String: String]
        package let hostProblems: [ConfigurationFinding]
    }

    /// Loads as `load` does; with `readingPastHostProblems`, a file a key names that cannot be
    /// read here, or a user or group this host does not have, is noted rather than thrown
    /// (`corral check`).
    package static func read(
        file: String?,
        environment: [String: String],
        workingDirectory: String,
        readingPastHostProblems: Bool
    ) throws(CorralError) -> Read {
        let given = try givenValues(file: file, environment: environment)
        let names = keys.names
        if let unknown = given.keys.filter({ !names.contains($0) }).sorted().first {
            throw configurationError("\(unknown): \(UnknownKey.message(unknown, known: names, what: "configuration key"))")
        }
        let reading = ConfigurationReading<CorralConfiguration>(workingDirectory: workingDirectory, readsPastHostProblems: readingPastHostProblems)
        var configuration = try keys.read { key in
            let entry = given[key.name]
            return (entry?.value, ConfigurationContext(path: key.name, label: entry?.label ?? key.name, place: .root(), reading: reading))
        }
        try reading.settle(&configuration)
        try check(configuration, given: reading.given)
        return Read(configuration: configuration, given: reading.given, hostProblems: reading.hostProblems)
    }

    /// The file's keys with the environment's over them, each with the name a message uses for
    /// it: the key, or the environment variable it came from.
    private static func givenValues(file: String?, environment: [String: String]) throws(CorralError) -> [String: (value: JSONValue, label: String)] {
        var given: [String: (value: JSONValue, label: String)] = [:]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw configurationError("cannot read configuration file \(file)")
            }
            let document: JSONValue
            do {
                document = try JSONParser.parse(data)
            } catch {
                throw configurationError("\(file) is not valid JSON: \(error)")
            }
            guard case .object(let object) = document else {
                throw configurationError("\(file) is not a JSON object (it holds \(document.typeName))")
            }
            for (key, value) in object { given[key] = (value, key) }
        }
        for key in keys.keys {
            let variables = ["CORRAL_" + key.name.uppercased()] + key.aliases
            guard let variable = variables.first(where: { environment[$0] != nil }), let raw = environment[variable] else { continue }
            given[key.name] = (try environmentValue(raw, key.type.environment, acceptsNull: key.acceptsNull, variable: variable), variable)
        }
        return given
    }

    private static func environmentValue(
        _ raw: String,
        _ form: ConfigurationEnvironmentForm,
        acceptsNull: Bool,
        variable: String
    ) throws(CorralError) -> JSONValue {
        switch form {
        case .text:
            return raw.isEmpty && acceptsNull ? .null : .string(raw)
        case .number:
            // Written as in the file, in JSON (`30`, `0.5`, `1e3`): `Double` would also take
            // `0x10`, `inf` and `nan`, which the file refuses.
            guard case .number(let number)? = try? JSONParser.parse(Array(raw.trimmingCharacters(in: .whitespaces).utf8)), number.isFinite else {
                throw configurationError("\(variable): expected a number written in decimal, as in JSON (30, 0.5, 1e3), got '\(raw)'")
            }
            return .number(number)
        case .flag:
            switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "1", "yes", "on": return .bool(true)
            case "false", "0", "no", "off": return .bool(false)
            case "" where acceptsNull: return .null
            default: throw configurationError("\(variable): expected true or false (or 1/0, yes/no, on/off), got '\(raw)'")
            }
        case .json:
            do {
                return try JSONParser.parse(Array(raw.utf8))
            } catch {
                throw configurationError("\(variable): expected JSON (\(error))")
            }
        }
    }

    static func configurationError(_ message: String) -> CorralError {
        CorralError(.configuration, "configuration: \(message)")
    }
}
