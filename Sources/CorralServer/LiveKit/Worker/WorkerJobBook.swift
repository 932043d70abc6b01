import CorralCore
import CorralPlatform
import CorralStore

/// The jobs one LiveKit worker (one profile) has taken, as a value: which offers to accept, the
/// places held for accepted jobs until their assignment arrives, which jobs run, what to report
/// when one ends, and the load and status to report. Events in, decisions out: no socket,
/// session or clock of its own (`WorkerJobBookTests`).
struct WorkerJobBook {
    enum State: Equatable {
        /// Accepted; its place is held until the assignment arrives or `until` passes.
        case reserved(until: ContinuousClock.Instant)
        /// Assigned; its session is being started.
        case starting
        /// `JS_RUNNING` was reported.
        case running
    }

    struct Job: Equatable {
        var state: State
        let session: SessionID
    }

    /// What the worker may take on (its own `max_jobs` and `load_threshold`), and how long an
    /// accepted job's place is held without its assignment (`assignment_timeout_seconds`).
    struct Limits: Equatable {
        let maxJobs: Int
        let loadThreshold: Double
        var assignmentWait = Duration.seconds(10)
    }

    /// What the rest of corral says right now.
    struct Conditions: Equatable {
        /// corral takes new sessions (not draining or stopping).
        var accepting = true
        /// `max_sessions` leaves room for one more.
        var hasRoom = true
        var storeReachable = true
        /// corral's measure of host CPU pressure (0…1), with `"load": "jobs+cpu"`.
        var hostPressure: Double?
    }

    enum Offer: Equatable {
        case accept
        case decline(String)
    }

    /// What to tell LiveKit of a job.
    enum Report: Equatable {
        case running
        case success
        case failed(String)
    }

    let limits: Limits
    private(set) var jobs: [String: Job] = [:]

    init(limits: Limits) {
        self.limits = limits
    }

    /// The id of the session that runs `jobID`.
    static func sessionID(forJob jobID: String) -> SessionID? {
        SessionID("lk-" + jobID)
    }

    /// Jobs held or running: what `job_count` and the load count.
    var activeJobs: Int { jobs.count }

    /// Active jobs over `max_jobs`, or host CPU pressure if larger (with `jobs+cpu`).
    func load(_ conditions: Conditions) -> Double {
        let jobs = Double(activeJobs) / Double(max(1, limits.maxJobs))
        return max(jobs, conditions.hostPressure ?? 0)
    }

    /// `WS_FULL` (false) at the load threshold or `max_jobs`, at `max_sessions`, while draining
    /// or stopping, and while the store cannot be reached (no job could be recorded).
    func isAvailable(_ conditions: Conditions) -> Bool {
        conditions.accepting && conditions.hasRoom && conditions.storeReachable && activeJobs < limits.maxJobs
            && load(conditions) < limits.loadThreshold
    }

    /// An `AvailabilityRequest`: accepted jobs hold a place until their assignment arrives.
    mutating func offered(_ jobID: String, now: ContinuousClock.Instant, _ conditions: Conditions) -> Offer {
        if jobs[jobID] != nil { return .accept }  // asked again: the answer stands
        guard let session = Self.sessionID(forJob: jobID) else { return .decline("the job id is not one corral can use as a session id") }
        guard conditions.accepting else { return .decline("corral is draining or stopping") }
        guard conditions.storeReachable else { return .decline("the session store cannot be reached") }
        guard conditions.hasRoom else { return .decline("corral is at max_sessions") }
        guard activeJobs < limits.maxJobs else { return .decline("the worker is at max_jobs (\(limits.maxJobs))") }
        guard load(conditions) < limits.loadThreshold else { return .decline("the worker's load is at its threshold") }
        jobs[jobID] = Job(state: .reserved(until: now + limits.assignmentWait), session: session)
        return .accept
    }

    /// Held places whose assignment never came: they are given up.
    mutating func expire(now: ContinuousClock.Instant) -> [SessionID] {
        var released: [SessionID] = []
        for (id, job) in jobs {
            if case .reserved(let until) = job.state, until <= now {
                jobs[id] = nil
                released.append(job.session)
            }
        }
        return released
    }

    /// LiveKit ends a job: if it was only accepted (no assignment yet), its held place is given up
    /// at once and its session returned; a job that starts or runs is ended through its session.
    mutating func terminated(_ jobID: String) -> SessionID? {
        guard let job = jobs[jobID], case .reserved = job.state else { return nil }
        jobs[jobID] = nil
        return job.session
    }

    /// A `JobAssignment`: whether its session should be started, and whether on a held place.
    enum Assignment: Equatable {
        case start(SessionID, reserved: Bool)
        /// Already starting or running (a repeated assignment).
        case duplicate
        case refuse(String)
    }

    mutating func assigned(_ jobID: String, _ conditions: Conditions) -> Assignment {
        switch jobs[jobID]?.state {
        case .reserved?:
            jobs[jobID]?.state = .starting
            return .start(jobs[jobID]!.session, reserved: true)
        case .starting?, .running?:
            return .duplicate
        case nil:
            // Its place was given up (or never held): it runs only if there is room now.
            guard let session = Self.sessionID(forJob: jobID) else { return .refuse("the job id is not one corral can use as a session id") }
            guard conditions.accepting, conditions.hasRoom, activeJobs < limits.maxJobs else {
                return .refuse("the assignment came after the place held for it was given up, and there is no room now")
            }
            jobs[jobID] = Job(state: .starting, session: session)
            return .start(session, reserved: false)
        }
    }

    /// The job's session runs (ready, for notify profiles): report `JS_RUNNING`, once.
    mutating func running(_ jobID: String) -> Report? {
        guard let job = jobs[jobID], job.state != .running else { return nil }
        if case .reserved = job.state { return nil }
        jobs[jobID]?.state = .running
        return .running
    }

    /// A session from before a restart of corral runs this job.
    mutating func adopted(_ jobID: String, session: SessionID, running: Bool) {
        jobs[jobID] = Job(state: running ? .running : .starting, session: session)
    }

    /// The job's session could not start.
    mutating func failedToStart(_ jobID: String, why: String) -> Report {
        jobs[jobID] = nil
        return .failed(why)
    }

    /// The job's session ended: what to report, if the job was this worker's.
    mutating func ended(_ jobID: String, reason: EndReason) -> Report? {
        guard jobs.removeValue(forKey: jobID) != nil else { return nil }
        return Self.report(for: reason)
    }

    /// Jobs whose sessions run or start, for `migrate_job` after a reconnect.
    var runningJobIDs: [String] {
        jobs.filter { if case .reserved = $0.value.state { false } else { true } }.keys.sorted()
    }

    /// A clean end, or an end by LiveKit, the API or the room, is a success; anything else a
    /// failure with a short reason.
    static func report(for reason: EndReason) -> Report {
        switch reason {
        case .exited(.exited(code: 0)), .deleted, .jobTerminated, .roomFinished, .participantLeft:
            return .success
        case .exited(.unknown):
            // An agent adopted after a restart of corral is not its child: how it exited is not
            // known, and an agent leaving when its room ends is the usual case.
            return .success
        case .exited(let status):
            return .failed("agent \(status)")
        case .startupTimeout:
            return .failed("the agent did not become ready in time (startup timeout)")
        case .timeout:
            return .failed("the session reached its timeout")
        case .memoryLimit:
            return .failed("the agent went over its memory limit")
        case .pidsLimit:
            return .failed("the agent went over its process limit")
        case .shutdown:
            return .failed("worker stopped")
        case .failedToStart:
            return .failed("the session could not be started")
        case .assignFailed, .replaced, .templateFailed:
            return .failed(reason.name)
        }
    }
}
