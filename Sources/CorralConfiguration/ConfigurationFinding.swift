import CorralPlatform
import CorralSecurity
/// Something `corral check` found wrong with a configuration, or with the host for it: the key it
/// is about (as a message names it: `agents.demo.command`, or the environment variable the value
/// came from) and what is wrong.
public struct ConfigurationFinding: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Nil where no single key is at fault (a file that is not JSON).
    public let key: String?
    public let message: String

    public init(key: String?, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { key.map { "\($0): \(message)" } ?? message }

    /// The finding of an error the loader threw: its message is `configuration: KEY: problem`
    /// where one key is at fault, and the key is taken from it when it looks like one.
    package init(loading error: CorralError) {
        var message = error.message
        if message.hasPrefix("configuration: ") { message.removeFirst("configuration: ".count) }
        self.init(message: message)
    }

    /// A message that may begin with the key it is about (`KEY: problem`): the key is taken from
    /// it when it looks like one.
    init(message: String) {
        let keyCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.*[]")
        if let separator = message.range(of: ": "), !message[..<separator.lowerBound].isEmpty,
            message[..<separator.lowerBound].allSatisfy({ keyCharacters.contains($0) })
        {
            self.init(key: String(message[..<separator.lowerBound]), message: String(message[separator.upperBound...]))
        } else {
            self.init(key: nil, message: message)
        }
    }

    /// The finding with its message redacted as text (a loader's message quotes the value it
    /// refuses), its key kept: a key such as `api_token` would otherwise pass for a secret's
    /// name and hide the words after it.
    public func redacted(by redactor: Redactor) -> ConfigurationFinding {
        ConfigurationFinding(key: key, message: redactor.text(message))
    }
}
