import Foundation

/// A LiveKit job as a session runs it: the job, its dispatch and the agent name it was
/// dispatched to.
public struct LiveKitJob: Sendable, Equatable {
    public let jobID: String
    public let dispatchID: String?
    public let agentName: String

    public init(jobID: String, dispatchID: String?, agentName: String) {
        self.jobID = jobID
        self.dispatchID = dispatchID
        self.agentName = agentName
    }
}
