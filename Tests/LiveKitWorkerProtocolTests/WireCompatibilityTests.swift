import CorralTestSupport
import Foundation
import LiveKitWorkerProtocol
import SwiftProtobuf
import Testing

/// corral's .proto against LiveKit's own generated Python classes (livekit-protocol in the
/// LiveKit venv): what Swift encodes, Python decodes to the same fields, and the other way round,
/// including fields of LiveKit's newer schema that corral's .proto leaves out.
@Suite("LiveKit wire compatibility", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct WireCompatibilityTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/livekit_wire_check.py").path

    func pythonDecodes(_ kind: String, _ message: some SwiftProtobuf.Message) async throws -> [String: Any] {
        let bytes: [UInt8] = try message.serializedBytes()
        let result = try await CommandRunner.run(livekitAgentsPython!, [Self.script, "decode", kind, Data(bytes).base64EncodedString()])
        try #require(result.status == 0, "\(result.errors)")
        return try #require((try JSONSerialization.jsonObject(with: Data(result.output.utf8))) as? [String: Any])
    }

    func pythonEncoded() async throws -> [String: Livekit_ServerMessage] {
        let result = try await CommandRunner.run(livekitAgentsPython!, [Self.script, "encode"])
        try #require(result.status == 0, "\(result.errors)")
        let encoded = try #require((try JSONSerialization.jsonObject(with: Data(result.output.utf8))) as? [String: String])
        return try encoded.mapValues { try Livekit_ServerMessage(serializedBytes: Array(Data(base64Encoded: $0)!)) }
    }

    @Test func livekitDecodesTheRegistrationAsSent() async throws {
        let registration = Livekit_RegisterWorkerRequest.with {
            $0.agentName = "support-bot"
            $0.type = .jtParticipant
            $0.version = "corral 1.2"
            $0.namespace = "blue"
            $0.pingInterval = 7
            $0.allowedPermissions = .with { $0.canSubscribe = true; $0.canPublish = true; $0.hidden = true; $0.canPublishSources = [.microphone] }
        }
        let decoded = try await pythonDecodes("WorkerMessage", Livekit_WorkerMessage.with { $0.register = registration })
        #expect(decoded["which"] as? String == "register")
        let register = try #require(decoded["register"] as? [String: Any])
        #expect(register["agent_name"] as? String == "support-bot")
        #expect(register["type"] as? String == "JT_PARTICIPANT")
        #expect(register["version"] as? String == "corral 1.2")
        #expect(register["namespace"] as? String == "blue")
        #expect(register["ping_interval"] as? Int == 7)
        let permissions = try #require(register["allowed_permissions"] as? [String: Any])
        #expect(permissions["can_subscribe"] as? Bool == true)
        #expect(permissions["can_publish"] as? Bool == true)
        #expect(permissions["hidden"] as? Bool == true)
        #expect(permissions["can_publish_data"] == nil)
        #expect(permissions["can_publish_sources"] as? [String] == ["MICROPHONE"])
    }

    @Test func livekitDecodesWhatAWorkerReports() async throws {
        let job = try await pythonDecodes("WorkerMessage", Livekit_WorkerMessage.with {
            $0.updateJob = .with { $0.jobID = "AJ_1"; $0.status = .jsFailed; $0.error = "agent exited with status 3" }
        })
        #expect(job["which"] as? String == "update_job")
        #expect(job["update_job"] as? [String: String] == ["job_id": "AJ_1", "status": "JS_FAILED", "error": "agent exited with status 3"])

        let worker = try await pythonDecodes("WorkerMessage", Livekit_WorkerMessage.with {
            $0.updateWorker = .with { $0.status = .wsFull; $0.load = 0.75; $0.jobCount = 4 }
        })
        let update = try #require(worker["update_worker"] as? [String: Any])
        #expect(update["status"] as? String == "WS_FULL")
        #expect(update["load"] as? Double == 0.75)
        #expect(update["job_count"] as? Int == 4)
        // WS_AVAILABLE is the enum's zero: the field is optional so that it is sent at all.
        let available = try await pythonDecodes("WorkerMessage", Livekit_WorkerMessage.with { $0.updateWorker = .with { $0.status = .wsAvailable } })
        #expect((available["update_worker"] as? [String: Any])?["status"] as? String == "WS_AVAILABLE")

        let answer = try await pythonDecodes("WorkerMessage", Livekit_WorkerMessage.with {
            $0.availability = .with {
                $0.jobID = "AJ_2"; $0.available = true; $0.participantIdentity = "agent-7"; $0.participantName = "Agent"
                $0.participantMetadata = "{}"; $0.participantAttributes = ["corral.session": "s-1"]
            }
        })
        let availability = try #require(answer["availability"] as? [String: Any])
        #expect(availability["job_id"] as? String == "AJ_2")
        #expect(availability["available"] as? Bool == true)
        #expect(availability["participant_identity"] as? String == "agent-7")
        #expect(availability["participant_attributes"] as? [String: String] == ["corral.session": "s-1"])

        let migrate = try await pythonDecodes("WorkerMessage", Livekit_WorkerMessage.with { $0.migrateJob = .with { $0.jobIds = ["AJ_1", "AJ_2"] } })
        #expect((migrate["migrate_job"] as? [String: Any])?["job_ids"] as? [String] == ["AJ_1", "AJ_2"])
    }

    @Test func swiftDecodesWhatLiveKitSends() async throws {
        let messages = try await pythonEncoded()
        let register = try #require(messages["register"]?.register)
        #expect(register.workerID == "AW_wire")
        #expect(register.serverInfo.edition == .cloud)
        #expect(register.serverInfo.version == "1.9.0")
        #expect(register.serverInfo.region == "eu")
        #expect(register.serverInfo.agentProtocol == 1)

        let request = try #require(messages["availability"]?.availability)
        #expect(request.resuming)
        let assignment = try #require(messages["assignment"]?.assignment)
        #expect(assignment.token == "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl")
        #expect(assignment.hasURL && assignment.url == "wss://elsewhere.example")
        for job in [request.job, assignment.job] {
            #expect(job.id == "AJ_wire")
            #expect(job.dispatchID == "AD_wire")
            #expect(job.type == .jtPublisher)
            #expect(job.agentName == "wire-agent")
            #expect(job.metadata == "job-meta")
            #expect(job.attributes == ["tier": "gold"])
            #expect(job.enableRecording)
            #expect(job.room.sid == "RM_wire" && job.room.name == "wire-room" && job.room.metadata == "room-meta")
            #expect(job.room.creationTime == 1_700_000_000 && job.room.numParticipants == 2)
            #expect(job.hasParticipant)
            #expect(job.participant.identity == "caller" && job.participant.name == "Caller" && job.participant.sid == "PA_wire")
            #expect(job.participant.metadata == "participant-meta")
            #expect(job.participant.kind == .sip && job.participant.state == .active)
            #expect(job.participant.attributes == ["sip.phoneNumber": "+15550100"])
            #expect(job.state.status == .jsRunning && job.state.workerID == "AW_wire")
            #expect(job.state.startedAt == 1_700_000_000_123_456_789)
            // Fields corral's .proto leaves out are skipped, and kept.
            #expect(!job.participant.unknownFields.data.isEmpty)
            #expect(!job.room.unknownFields.data.isEmpty)
            #expect(!job.state.unknownFields.data.isEmpty)
        }
        #expect(messages["termination"]?.termination.jobID == "AJ_wire")
        #expect(messages["pong"]?.pong.lastTimestamp == -5)
        // A message of a newer protocol decodes to none that corral knows, without failing.
        let goAway = try #require(messages["go_away"])
        #expect(goAway.message == nil)
        #expect(!goAway.unknownFields.data.isEmpty)
    }

    @Test func fieldsCorralDoesNotKnowSurviveARoundTrip() async throws {
        let assignment = try #require(try await pythonEncoded()["assignment"])
        let decoded = try await pythonDecodes("ServerMessage", assignment)
        let job = try #require((decoded["assignment"] as? [String: Any])?["job"] as? [String: Any])
        #expect((job["state"] as? [String: Any])?["reason"] as? String == "JSR_RETRYING")
        #expect(((job["participant"] as? [String: Any])?["tracks"] as? [[String: Any]])?.first?["sid"] as? String == "TR_wire")
        #expect((job["room"] as? [String: Any])?["version"] as? [String: String] == ["unix_micro": "1700000000000000"])
    }
}
