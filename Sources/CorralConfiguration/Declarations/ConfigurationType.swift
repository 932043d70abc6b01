import CorralPlatform
import Foundation

/// How an environment variable's text becomes the JSON value a key's type reads.
enum ConfigurationEnvironmentForm: Sendable {
    /// The text is the string; an empty one is null where the key takes null.
    case text
    /// The text is a number.
    case number
    /// The text is a boolean: `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off`, in any case.
    case flag
    /// The text is JSON (objects, arrays).
    case json
}

/// How a key's JSON value becomes a Swift value: the parse with the checks every value of the
/// type gets, what an environment variable for the key holds, and how the type and its values
/// are shown in the configuration reference. `Root` is the configuration being read (the place a
/// nested object's work for later reaches through).
struct ConfigurationType<Root, Value>: Sendable {
    /// The type in the reference: `number > 0`, `an object of profiles`.
    let summary: String
    let environmentForm: ConfigurationEnvironmentForm
    /// The keys inside a value of this type, relative to the key (`.url`, `.*.command`, `[].name`).
    let members: [ConfigurationReference.Row]
    /// A value as the reference shows it (JSON); nil where it has no short form.
    let show: @Sendable (Value) -> String?
    let read: @Sendable (JSONValue, ConfigurationContext<Root, Value>) throws(CorralError) -> Value

    /// A string or a number as JSON shows it.
    static func json(_ text: String) -> String { ConfigurationReference.json(text) }
    static func json(_ number: Double) -> String { ConfigurationReference.json(number) }

    init(
        summary: String,
        environment: ConfigurationEnvironmentForm,
        members: [ConfigurationReference.Row] = [],
        show: @escaping @Sendable (Value) -> String?,
        read: @escaping @Sendable (JSONValue, ConfigurationContext<Root, Value>) throws(CorralError) -> Value
    ) {
        self.summary = summary
        self.environmentForm = environment
        self.members = members
        self.show = show
        self.read = read
    }

    /// This type's values transformed once read and checked (a byte count as `UInt64`, a URL
    /// without its trailing `/`). Keys inside it cannot have work for after the reading: the
    /// transformed value has no way back to where it lands.
    func map<Other>(
        show: @escaping @Sendable (Other) -> String? = { _ in nil },
        _ transform: @escaping @Sendable (Value, ConfigurationContext<Root, Other>) throws(CorralError) -> Other
    ) -> ConfigurationType<Root, Other> {
        let read = self.read
        return ConfigurationType<Root, Other>(
            summary: summary, environment: environmentForm, members: members, show: show
        ) { value, context throws(CorralError) in
            try transform(try read(value, context.unplaced()), context)
        }
    }
}

extension ConfigurationType where Value == String {
    /// Any string.
    static var string: Self {
        Self(summary: "string", environment: .text, show: { json($0) }) { value, context throws(CorralError) in
            guard case .string(let text) = value else { throw context.error("expected a string, got \(value.typeName)") }
            return text
        }
    }

    /// A string that is not empty (and has no NUL, which no C string can carry).
    static var nonEmptyString: Self {
        Self(summary: "non-empty string", environment: .text, show: { json($0) }) { value, context throws(CorralError) in
            guard case .string(let text) = value, !text.contains("\0") else {
                throw context.error("expected a non-empty string, got \(value.typeName)")
            }
            guard !text.isEmpty else { throw context.error("must not be empty") }
            return text
        }
    }

    /// A file or directory path.
    static var path: Self {
        Self(summary: "path", environment: .text, show: { json($0) }) { value, context throws(CorralError) in
            guard case .string(let path) = value else { throw context.error("expected a path, got \(value.typeName)") }
            guard !path.isEmpty else { throw context.error("must not be empty") }
            return path
        }
    }

    /// A URL with one of `schemes` (and a host, where `host` says so).
    static func url(_ schemes: [String], host: Bool = true, expected: String) -> Self {
        Self(summary: ConfigurationReference.either(schemes.map { "`\($0)://…`" }), environment: .text, show: { json($0) }) {
            value, context throws(CorralError) in
            guard case .string(let text) = value, schemes.contains(where: { text.hasPrefix($0 + "://") }) else {
                throw context.error(expected)
            }
            if host {
                guard let url = URL(string: text), url.host != nil else { throw context.error(expected) }
            }
            return text
        }
    }
}

extension ConfigurationType where Value == Double {
    /// A finite number at least `minimum` (above it, where `exclusive`), and at most `maximum`.
    static func number(minimum: Double, exclusive: Bool = false, maximum: Double? = nil) -> Self {
        let bound = json(minimum)
        let summary =
            switch (maximum, exclusive) {
            case (let maximum?, true): "number > \(bound) and ≤ \(json(maximum))"
            case (let maximum?, false): "number from \(bound) to \(json(maximum))"
            case (nil, true): "number > \(bound)"
            case (nil, false): "number ≥ \(bound)"
            }
        return Self(summary: summary, environment: .number, show: { json($0) }) { value, context throws(CorralError) in
            guard case .number(let number) = value, number.isFinite else {
                throw context.error("expected a number, got \(value.typeName)")
            }
            if exclusive {
                guard number > minimum else { throw context.error("must be greater than \(bound), got \(json(number))") }
            } else {
                guard number >= minimum else { throw context.error("must be at least \(bound), got \(json(number))") }
            }
            if let maximum, number > maximum {
                throw context.error("must be at most \(json(maximum)), got \(json(number))")
            }
            return number
        }
    }

    /// The longest span of time a key takes: about 31 years, "never" in practice. Longer spans
    /// overflow the `Duration`s and whole-second counts corral turns them into.
    static var secondsCeiling: Double { 1_000_000_000 }

    /// A number of seconds greater than 0.
    static var positive: Self { number(minimum: 0, exclusive: true, maximum: secondsCeiling) }

    /// A number of seconds, 0 included.
    static var seconds: Self { number(minimum: 0, maximum: secondsCeiling) }

    /// The pause between two runs of something recurring: a shorter one would be a busy loop.
    static var interval: Self { number(minimum: 0.01, maximum: secondsCeiling) }
}

extension ConfigurationType where Value == Int {
    /// A whole number from `minimum` to `maximum` (below 10^12 without one).
    static func integer(minimum: Int, maximum: Int? = nil) -> Self {
        let summary = maximum.map { "integer from \(minimum) to \($0)" } ?? "integer ≥ \(minimum)"
        let ceiling = maximum.map(Double.init) ?? 1e12 - 1
        return Self(summary: summary, environment: .number, show: { String($0) }) { value, context throws(CorralError) in
            guard case .number(let number) = value, number.isFinite else {
                throw context.error("expected a number, got \(value.typeName)")
            }
            guard number >= Double(minimum) else { throw context.error("must be at least \(minimum), got \(json(number))") }
            guard number == number.rounded() else { throw context.error("expected a whole number, got \(json(number))") }
            guard number <= ceiling else { throw context.error("must be at most \(json(ceiling)), got \(json(number))") }
            return Int(number)
        }
    }
}

extension ConfigurationType where Value == Bool {
    static var boolean: Self {
        Self(summary: "boolean", environment: .flag, show: { String($0) }) { value, context throws(CorralError) in
            guard case .bool(let flag) = value else { throw context.error("expected true or false, got \(value.typeName)") }
            return flag
        }
    }
}

extension ConfigurationType where Value: RawRepresentable & CaseIterable & Sendable, Value.RawValue == String {
    /// One of the enumeration's raw values (matched in lower case where `lowercased`).
    static func oneOf(lowercased: Bool = false) -> Self {
        let names = Value.allCases.map(\.rawValue)
        let expected = "expected one of \(names.joined(separator: ", "))"
        return Self(summary: "one of " + names.map { "`\($0)`" }.joined(separator: ", "), environment: .text, show: { json($0.rawValue) }) {
            value, context throws(CorralError) in
            guard case .string(let text) = value else { throw context.error("\(expected), got \(value.typeName)") }
            guard let parsed = Value(rawValue: lowercased ? text.lowercased() : text) else {
                throw context.error("\(expected), got \(json(text))")
            }
            return parsed
        }
    }
}
