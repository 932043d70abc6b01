import Logging

/// Passes every log event on to `Handler` with control characters escaped in its message and in
/// every metadata value (the handler's own, the provider's, the event's, and an error's text):
/// corral logs text that comes from outside (a LiveKit room name, a webhook's event id, an
/// agent's error), and a `\n` in it must not start a line that looks like one of corral's, nor an
/// escape sequence reach the terminal of whoever reads the log. Both of `corral serve`'s formats
/// go through it: a text line stays one line, a JSON line holds the escaped value.
///
/// Escaped (`LogEscaping.escaped`): `\n`, `\r` and `\t` as such; the other C0 controls, DEL, the
/// C1 controls and the line and paragraph separators U+2028 and U+2029 as `\u{…}` (ESC is
/// `\u{1B}`); and the backslash itself (`\\`), so that an escape in the log always means a
/// character escaped.
public struct EscapingLogHandler<Handler: LogHandler>: LogHandler {
    private var handler: Handler
    /// Kept here, not in `handler`: what it provides is escaped before `handler` sees it.
    public var metadataProvider: Logger.MetadataProvider?

    public init(_ handler: Handler) {
        self.handler = handler
        metadataProvider = handler.metadataProvider
        // Set only where there is one: a handler without support for providers warns at any set.
        if metadataProvider != nil { self.handler.metadataProvider = nil }
        self.handler.metadata = LogEscaping.escaped(handler.metadata)
    }

    public var logLevel: Logger.Level {
        get { handler.logLevel }
        set { handler.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { handler.metadata }
        set { handler.metadata = LogEscaping.escaped(newValue) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { handler[metadataKey: LogEscaping.escaped(key)] }
        set { handler[metadataKey: LogEscaping.escaped(key)] = newValue.map(LogEscaping.escaped) }
    }

    public func log(event: LogEvent) {
        var event = event
        var metadata = metadataProvider?.get() ?? [:]
        metadata.merge(event.metadata ?? [:]) { _, explicit in explicit }
        if let error = event.error {
            // As swift-log's own handlers name it, but escaped: an error's text is outside text.
            metadata["error.message"] = "\(error)"
            metadata["error.type"] = "\(String(reflecting: type(of: error)))"
            event.error = nil
        }
        event.metadata = metadata.isEmpty ? nil : LogEscaping.escaped(metadata)
        event.message = "\(LogEscaping.escaped(event.message.description))"
        handler.log(event: event)
    }
}

/// How `EscapingLogHandler` writes a control character.
public enum LogEscaping {
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where needsEscape(scalar): result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    public static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(escaped(text))
        case .stringConvertible(let value): .string(escaped(value.description))
        case .dictionary(let metadata): .dictionary(escaped(metadata))
        case .array(let values): .array(values.map(escaped))
        }
    }

    public static func escaped(_ metadata: Logger.Metadata) -> Logger.Metadata {
        guard metadata.contains(where: { needsEscaping($0.key) || needsEscaping($0.value) }) else { return metadata }
        // Keys are escaped too; the backslash being escaped, two keys never become one.
        return Dictionary(uniqueKeysWithValues: metadata.map { (escaped($0.key), escaped($0.value)) })
    }

    /// A control character (general category Cc: C0, DEL, C1), a line or paragraph separator,
    /// or the backslash that starts an escape.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x5C, 0x7F...0x9F, 0x2028, 0x2029: true
        default: false
        }
    }

    private static func needsEscaping(_ text: String) -> Bool {
        text.unicodeScalars.contains(where: needsEscape)
    }

    private static func needsEscaping(_ value: Logger.Metadata.Value) -> Bool {
        switch value {
        case .string(let text): needsEscaping(text)
        // Its description may change from one call to the next: made a string either way.
        case .stringConvertible: true
        case .dictionary(let metadata): metadata.contains { needsEscaping($0.key) || needsEscaping($0.value) }
        case .array(let values): values.contains(where: needsEscaping)
        }
    }
}
