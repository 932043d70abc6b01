extension LiveKitConfiguration {
    /// The keys of `livekit`. Null is the same as leaving a key out. That exactly one of
    /// `api_secret` and `api_secret_file` is given is checked with the other cross-key checks.
    static let keys = ConfigurationObject<CorralConfiguration, LiveKitConfiguration>(
        LiveKitConfiguration(url: "", apiKey: "", apiSecret: ""),
        keys: [
            .key(
                "url", .url(["wss", "ws", "https", "http"], host: false, expected: "expected the LiveKit server URL (wss://…)"), \.url,
                required: true, orNull: true, doc: "the LiveKit server, given to agents as `LIVEKIT_URL`"
            ),
            .key("api_key", .nonEmptyString, \.apiKey, required: true, orNull: true, doc: "the key that signs agents' tokens and LiveKit's webhooks"),
            .key(
                "api_secret", .nonEmptyString, \.apiSecret, orNull: true, default: .described("this or `api_secret_file`"),
                doc: "the key's secret; never logged, never shown, never given to an agent"
            ),
            .key(
                "api_secret_file", .secretFile, \.apiSecret, orNull: true, default: .described("this or `api_secret`"),
                doc: "a file holding the secret, instead of `api_secret`"
            ),
            .key(
                "auto_dispatch_agent", .nonEmptyString, \.autoDispatchAgent,
                doc: "a profile started for every room LiveKit reports started (`room_started`)"
            ),
            .key("sessions_per_room", .integer(minimum: 1), \.sessionsPerRoom, orNull: true, doc: "sessions of one profile a room may have at once"),
            .key(
                "token_margin_seconds", .seconds, \.tokenMarginSeconds, orNull: true,
                doc: "how long an agent's token stays valid past its session's deadline"
            ),
        ]
    )
}
