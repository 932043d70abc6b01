import CorralPlatform
import CorralSecurity

extension CorralError {
    /// The error as it may be printed where others read it (`corral serve`'s start-up errors land
    /// in the journal): what its message quotes is redacted as text, and the key it begins with
    /// (`configuration: KEY: problem`, `store: problem`) kept, as `corral check` shows findings.
    public func redacted(by redactor: Redactor) -> CorralError {
        let prefix = "configuration: "
        let quoted = message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message
        let finding = ConfigurationFinding(message: quoted).redacted(by: redactor)
        return CorralError(code, (message.hasPrefix(prefix) ? prefix : "") + finding.description, underlying: underlying)
    }
}
