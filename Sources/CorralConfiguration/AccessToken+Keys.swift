import CorralSecurity

extension AccessToken {
    /// One entry of `tokens`, as it is read; it becomes an `AccessToken`.
    package struct Entry: Sendable {
        package var name = ""
        package var sha256: [UInt8] = []
        package var role = Role.read
    }

    /// The keys of an entry of `tokens`.
    package static let keys = ConfigurationObject<CorralConfiguration, Entry>(
        Entry(),
        keys: [
            .key("name", .nonEmptyString, \.name, required: true, orNull: true, doc: "the token's name, unique (the audit log names it)"),
            .key(
                "sha256", .sha256, \.sha256, required: true, orNull: true,
                doc: "the token's SHA-256 (`printf %s TOKEN | sha256sum`); the token itself is never stored"
            ),
            .key("role", .oneOf(), \.role, required: true, orNull: true, doc: "what the token may do (see [security](security.md#authentication-and-roles))"),
        ]
    )

    /// `tokens`: the entries, as tokens.
    static let list = ConfigurationType<CorralConfiguration, [AccessToken]>.array(
        of: ConfigurationType<CorralConfiguration, Entry>.object(keys, "an object").map { entry, _ in
            AccessToken(name: entry.name, sha256: entry.sha256, role: entry.role)
        },
        "an array of tokens"
    )

    /// Two tokens with one name, or nil.
    static func duplicateName(_ tokens: [AccessToken]) -> String? {
        var names = Set<String>()
        guard let duplicate = tokens.first(where: { !names.insert($0.name).inserted }) else { return nil }
        return "two tokens are named '\(duplicate.name)'; each needs a name of its own"
    }
}
