import CorralPlatform

extension TemplateSettings {
    /// The keys of a profile's `template` object. Null is the same as leaving a key out.
    static let keys = ConfigurationObject<CorralConfiguration, TemplateSettings>(
        TemplateSettings(),
        keys: [
            .key(
                "memory_limit_mb", .integer(minimum: 1, maximum: 999_999_999), \.memoryLimitMB,
                doc: "the template's own memory, which its forks share copy-on-write (charged to the template, not to them)"
            ),
            .key(
                "startup_timeout_seconds", .positive, \.startupTimeoutSeconds, default: .described("`startup_timeout_seconds`"),
                doc: "how long the template has to warm up and send `READY=1`"
            ),
            .key(
                "fork_timeout_seconds", .positive, \.forkTimeoutSeconds, orNull: true,
                doc: "how long the template has to answer one fork request; past it the start gets 503 and the template is replaced"
            ),
            .key(
                "max_queued_forks", .integer(minimum: 1, maximum: 100_000), \.maxQueuedForks, orNull: true,
                doc: "fork requests that may wait for the template at once; past it, 503"
            ),
        ]
    )
}

extension ConfigurationType where Root == CorralConfiguration, Value == TemplateSettings? {
    /// `true` (a template with the defaults), `false` (none), or an object of its settings.
    static var template: Self {
        let object = ConfigurationType<Root, TemplateSettings>.object(TemplateSettings.keys, "an object")
        return Self(
            summary: "`true` or an object", environment: .json, members: object.members,
            show: { $0 == nil ? "null" : nil }
        ) { value, context throws(CorralError) in
            if case .bool(let on) = value { return on ? TemplateSettings() : nil }
            guard case .object = value else { throw context.error("expected true, false or an object of the template's settings, got \(value.typeName)") }
            return try object.read(value, context.at(context.place?.unwrapped()))
        }
    }
}
