import CorralCore
import CorralTestSupport
import Foundation
import Testing
import CorralConfiguration
import CorralReports

/// `deploy/kubernetes/`: every manifest parses (PyYAML, as kubectl's YAML is read), and the
/// numbers between them hold: the grace period covers the drain and the end, the probes reach
/// corral's port, the Secret and ConfigMap land where the configuration looks, the autoscaler's
/// metric is one corral exports and its target a share of `max_sessions`.
@Suite("The Kubernetes manifests")
struct KubernetesManifestTests {
    static let directory = SystemdUnitTests.repository.appendingPathComponent("deploy/kubernetes").path
    static let python = "/usr/bin/python3"

    /// What `terminationGracePeriodSeconds` adds to `drain_timeout_seconds + grace_seconds`: the
    /// HTTP server's 5 s to close, and slack for the last store writes (configmap.yaml says so).
    static let slackSeconds = 20
    /// The autoscaler's target, as a share of `max_sessions` (hpa.yaml says so).
    static let targetShare = 0.7

    typealias Object = [String: Any]

    /// Every document of every manifest, by file name.
    static func manifests() async throws -> [String: [Object]] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted()
        let script = "import json, sys, yaml\nprint(json.dumps({f: [d for d in yaml.safe_load_all(open(f)) if d is not None] for f in sys.argv[1:]}))"
        let result = try await CommandRunner.run(python, ["-c", script] + files, workingDirectory: directory)
        try #require(result.status == 0, "the manifests do not parse (PyYAML: apt-get install python3-yaml, as .ci/run does): \(result.errors)")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: [Object]]
        return try #require(parsed)
    }

    static func object(_ manifests: [String: [Object]], _ file: String, kind: String) throws -> Object {
        try #require(manifests[file]?.first { $0["kind"] as? String == kind }, "\(file) has no \(kind)")
    }

    /// The configuration the ConfigMap carries, loaded as `corral check` loads it.
    static func configuration(_ manifests: [String: [Object]]) throws -> CorralConfiguration {
        try configurationAndJSON(manifests).configuration
    }

    static func configurationAndJSON(_ manifests: [String: [Object]]) throws -> (configuration: CorralConfiguration, json: Object) {
        let map = try object(manifests, "configmap.yaml", kind: "ConfigMap")
        let json = try #require((map["data"] as? [String: String])?["corral.json"])
        let file = NSTemporaryDirectory() + "corral-k8s-" + UUID().uuidString + ".json"
        try json.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let check = ConfigurationCheck(file: file, environment: [:], workingDirectory: NSTemporaryDirectory())
        // Warnings are about this host (no /opt/agent here, no mounted token); errors would stop serve.
        #expect(check.errors.isEmpty, "\(check.errors)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? Object)
        return (try #require(check.configuration), object)
    }

    @Test func everyManifestParsesAsAKubernetesObject() async throws {
        let manifests = try await Self.manifests()
        #expect(Set(manifests.keys).isSuperset(of: ["configmap.yaml", "deployment.yaml", "deployment-writable-cgroup.yaml", "pdb.yaml", "hpa.yaml", "service.yaml"]))
        for (file, documents) in manifests {
            #expect(!documents.isEmpty, "\(file) is empty")
            for document in documents {
                #expect(document["apiVersion"] is String && document["kind"] is String, "\(file)")
                if document["kind"] as? String != "Kustomization" {
                    #expect((document["metadata"] as? Object)?["name"] is String, "\(file) names no object")
                }
            }
        }
        let kustomization = try Self.object(manifests, "kustomization.yaml", kind: "Kustomization")
        for resource in kustomization["resources"] as? [String] ?? [] {
            #expect(manifests[resource] != nil, "kustomization.yaml lists \(resource), which is not there")
        }
    }

    @Test(arguments: ["deployment.yaml", "deployment-writable-cgroup.yaml"])
    func theDeploymentFollowsTheConfiguration(file: String) async throws {
        let manifests = try await Self.manifests()
        let (configuration, json) = try Self.configurationAndJSON(manifests)
        let deployment = try Self.object(manifests, file, kind: "Deployment")
        let spec = try #require(deployment["spec"] as? Object)
        let template = try #require(spec["template"] as? Object)
        let pod = try #require(template["spec"] as? Object)
        let container = try #require((pod["containers"] as? [Object])?.first)

        // The grace period: the drain, then the end of what is left, then the slack.
        let grace = Int(configuration.drainTimeoutSeconds + configuration.graceSeconds) + Self.slackSeconds
        #expect(configuration.shutdown == .drain)
        #expect(pod["terminationGracePeriodSeconds"] as? Int == grace, "expected \(grace)")

        // Rollouts add a ready pod before one drains.
        let rolling = (spec["strategy"] as? Object)?["rollingUpdate"] as? Object
        #expect("\(rolling?["maxUnavailable"] ?? "")" == "0")
        let labels = (template["metadata"] as? Object)?["labels"] as? [String: String] ?? [:]
        let selector = (spec["selector"] as? Object)?["matchLabels"] as? [String: String] ?? [:]
        #expect(!selector.isEmpty && selector.allSatisfy { labels[$0.key] == $0.value })

        // The probes reach corral's port.
        let ports = container["ports"] as? [Object] ?? []
        let http = ports.first { $0["name"] as? String == "http" }
        #expect(http?["containerPort"] as? Int == configuration.listen.port)
        func probe(_ name: String) -> Object? { (container[name] as? Object)?["httpGet"] as? Object }
        #expect(probe("readinessProbe")?["path"] as? String == "/readyz")
        #expect(probe("livenessProbe")?["path"] as? String == "/healthz")
        for name in ["readinessProbe", "livenessProbe", "startupProbe"] { #expect(probe(name)?["port"] as? String == "http", "\(name)") }

        // The ConfigMap where CORRAL_CONFIG points, the token where api_token_file does, the data directory.
        let volumes = Dictionary(uniqueKeysWithValues: (pod["volumes"] as? [Object] ?? []).compactMap { volume in (volume["name"] as? String).map { ($0, volume) } })
        let mounts = Dictionary(uniqueKeysWithValues: (container["volumeMounts"] as? [Object] ?? []).compactMap { mount -> (String, String)? in
            guard let path = mount["mountPath"] as? String, let name = mount["name"] as? String else { return nil }
            return (path, name)
        })
        func volume(at path: String) -> Object? { mounts[path].flatMap { volumes[$0] } }
        #expect((volume(at: "/etc/corral")?["configMap"] as? Object)?["name"] as? String == "corral")
        let tokenFile = try #require(json["api_token_file"] as? String)
        let tokenDirectory = (tokenFile as NSString).deletingLastPathComponent
        let secretName = (volume(at: tokenDirectory)?["secret"] as? Object)?["secretName"] as? String
        #expect(secretName == "corral-api-token", "no Secret at \(tokenDirectory)")
        let secret = try Self.object(manifests, "secret.example.yaml", kind: "Secret")
        #expect(secret["stringData"].flatMap { $0 as? [String: String] }?[(tokenFile as NSString).lastPathComponent] != nil)
        #expect(volume(at: configuration.dataDirectory)?["emptyDir"] != nil, "no volume at data_dir \(configuration.dataDirectory)")

        // Memory for every session at its limit.
        let largest = configuration.agents.values.compactMap(\.memoryLimitMB).max() ?? 0
        let limit = ((container["resources"] as? Object)?["limits"] as? Object)?["memory"] as? String
        let gibibytes = limit.flatMap { $0.hasSuffix("Gi") ? Int($0.dropLast(2)) : nil } ?? 0
        #expect(gibibytes * 1024 >= configuration.maxSessions * largest, "memory limit \(limit ?? "none") below max_sessions × memory_limit_mb")

        let security = container["securityContext"] as? Object ?? [:]
        #expect(security["allowPrivilegeEscalation"] as? Bool == false)
        #expect(security["privileged"] as? Bool != true)
        if file == "deployment.yaml" {
            // The unprivileged mode: no root, no capability.
            let podSecurity = pod["securityContext"] as? Object ?? [:]
            #expect(podSecurity["runAsNonRoot"] as? Bool == true && (podSecurity["runAsUser"] as? Int ?? 0) > 0)
            #expect((security["capabilities"] as? Object)?["drop"] as? [String] == ["ALL"])
            #expect((security["capabilities"] as? Object)?["add"] == nil)
        }
    }

    @Test func theBudgetTheServiceAndTheAutoscalerFollowTheDeployment() async throws {
        let manifests = try await Self.manifests()
        let configuration = try Self.configuration(manifests)
        let deployment = try Self.object(manifests, "deployment.yaml", kind: "Deployment")
        let name = (deployment["metadata"] as? Object)?["name"] as? String
        let labels = (((deployment["spec"] as? Object)?["template"] as? Object)?["metadata"] as? Object)?["labels"] as? [String: String] ?? [:]

        let budget = try Self.object(manifests, "pdb.yaml", kind: "PodDisruptionBudget")
        let budgetSpec = budget["spec"] as? Object ?? [:]
        #expect(budgetSpec["maxUnavailable"] as? Int == 1)
        let budgetSelector = (budgetSpec["selector"] as? Object)?["matchLabels"] as? [String: String] ?? [:]
        #expect(!budgetSelector.isEmpty && budgetSelector.allSatisfy { labels[$0.key] == $0.value })

        let service = try Self.object(manifests, "service.yaml", kind: "Service")
        let serviceSelector = (service["spec"] as? Object)?["selector"] as? [String: String] ?? [:]
        #expect(!serviceSelector.isEmpty && serviceSelector.allSatisfy { labels[$0.key] == $0.value })

        let autoscaler = try Self.object(manifests, "hpa.yaml", kind: "HorizontalPodAutoscaler")
        let scalerSpec = autoscaler["spec"] as? Object ?? [:]
        #expect((scalerSpec["scaleTargetRef"] as? Object)?["name"] as? String == name)
        let pods = try #require((scalerSpec["metrics"] as? [Object])?.first?["pods"] as? Object)
        let metric = try #require((pods["metric"] as? Object)?["name"] as? String)
        let target = (pods["target"] as? Object)?["averageValue"] as? String
        #expect(target.flatMap(Double.init) == (Double(configuration.maxSessions) * Self.targetShare).rounded(), "expected 70% of max_sessions")

        // The metric is one corral exports, per session.
        try await TestCorral().run { client in
            let session = try await client.start()
            let exported = try await client.request(.get, "/metrics").text
            #expect(exported.contains("\(metric){"), "corral exports no \(metric)")
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
        }
    }
}
