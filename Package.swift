// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "corral",
    products: [
        .executable(name: "corral", targets: ["corral"]),
        .executable(name: "corral-bench", targets: ["corral-bench"]),
        .library(name: "CorralCore", targets: ["CorralCore"]),
        .library(name: "CorralServer", targets: ["CorralServer"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "LiveKitWorkerProtocol", targets: ["LiveKitWorkerProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        // Hummingbird's WebSocket handling (WSCore), which the LiveKit worker runs on a connection it
        // makes itself; reached through its `WSInternal` SPI (see
        // Sources/LiveKitWorkerProtocol/WorkerSocket.swift), so exactly this version.
        .package(url: "https://github.com/hummingbird-project/swift-websocket", exact: "1.6.2"),
        // HeapModule: the supervisor's timer schedule (SwiftNIO already depends on the package).
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
    ],
    targets: [
        .target(name: "CCorralShims"),
        .target(
            name: "RedisClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // LiveKit's agent worker protocol: the messages (generated from Proto/ by
        // scripts/generate-livekit-protos) and a worker's connection; knows nothing of corral.
        .target(
            name: "LiveKitWorkerProtocol",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "WSCore", package: "swift-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Proto"]
        ),
        // The Linux layer: system calls, /proc, cgroups, spawning, pidfds, the process monitor.
        .target(
            name: "CorralPlatform",
            dependencies: [
                "CCorralShims",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Who may do what, and what is never shown: roles and tokens, redaction, the audit log,
        // the cluster secret.
        .target(
            name: "CorralSecurity",
            dependencies: [
                "CorralPlatform",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The configuration: its keys, declared once (the reference tables are made from them),
        // loading and checking a file, agent profiles.
        .target(
            name: "CorralConfiguration",
            dependencies: [
                "CorralPlatform",
                "CorralSecurity",
                "RedisClient",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Where sessions are written down: the session record, and the SQLite, Redis and memory
        // stores that keep it.
        .target(
            name: "CorralStore",
            dependencies: [
                "CorralPlatform",
                "CorralSecurity",
                "RedisClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // Sessions: the decisions (values) and the supervisor that carries them out, containment,
        // observability.
        .target(
            name: "CorralCore",
            dependencies: [
                "CorralPlatform",
                "CorralSecurity",
                "CorralConfiguration",
                "CorralStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // What `corral check` and `corral doctor` say (and `corral serve` checks at start-up): a
        // configuration's plan and findings, the host's report.
        .target(
            name: "CorralReports",
            dependencies: [
                "CCorralShims",
                "CorralPlatform",
                "CorralSecurity",
                "CorralConfiguration",
                "CorralCore",
                "RedisClient",
            ]
        ),
        .target(
            name: "CorralServer",
            dependencies: [
                "CorralPlatform",
                "CorralSecurity",
                "CorralConfiguration",
                "CorralStore",
                "CorralCore",
                "CorralReports",
                "RedisClient",
                "LiveKitWorkerProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The dashboard: one page, its style and script, embedded in the binary.
            resources: [
                .embedInCode("Dashboard/Resources/dashboard.html"),
                .embedInCode("Dashboard/Resources/dashboard.css"),
                .embedInCode("Dashboard/Resources/dashboard.js"),
                .embedInCode("Dashboard/Resources/operators.html"),
            ]
        ),
        .executableTarget(
            name: "corral",
            dependencies: [
                "CorralPlatform",
                "CorralSecurity",
                "CorralConfiguration",
                "CorralCore",
                "CorralReports",
                "CorralServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .executableTarget(
            name: "corral-bench",
            dependencies: [
                "CleanSpawn",
                // The tests' launchers of corral and of the test LiveKit server (not a module of
                // Sources, so not in docs/architecture.md's graph).
                "CorralTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // The one launcher of the programs the tests and the benchmark start: posix_spawn with a
        // clean signal state and chosen output files (corral itself spawns agents through
        // CCorralShims).
        .target(name: "CleanSpawn"),
        .target(
            name: "CorralTestSupport",
            dependencies: [
                "CleanSpawn",
                "CorralPlatform",
                "CorralConfiguration",
                "CorralStore",
                "CorralCore",
                "RedisClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/CorralTestSupport"
        ),
        // A single-threaded C program that spawns an agent with the spawn's descriptors on the
        // numbers the agent gets (0-3), which a test process cannot free for itself.
        .executableTarget(name: "corral-spawn-probe", dependencies: ["CCorralShims"], path: "Tests/SpawnProbe"),
        .testTarget(
            name: "RedisClientTests",
            dependencies: ["RedisClient", "CorralTestSupport"]
        ),
        .testTarget(
            name: "LiveKitWorkerProtocolTests",
            dependencies: [
                "LiveKitWorkerProtocol",
                "CorralTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Unit tests: values, parsers, documents; no processes, no sockets (seconds).
        .testTarget(
            name: "CorralUnitTests",
            dependencies: [
                "CorralPlatform",
                "CorralSecurity",
                "CorralConfiguration",
                "CorralStore",
                "CorralCore",
                "CorralReports",
                "CorralServer",
                "CorralTestSupport",
                "LiveKitWorkerProtocol",
            ]
        ),
        // End to end: everything that starts corral, agents, Python, Redis or a LiveKit server.
        .testTarget(
            name: "CorralEndToEndTests",
            dependencies: [
                "CCorralShims",
                "CleanSpawn",
                "CorralPlatform",
                "CorralSecurity",
                "CorralConfiguration",
                "CorralStore",
                "CorralCore",
                "CorralReports",
                "CorralServer",
                "CorralTestSupport",
                "RedisClient",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)
