import Testing
@testable import WebhookRelay

/// `auto_disable_after`: an endpoint whose every attempt failed for that long since the first
/// failure after its last success is disabled on the replica that owns it, its records are
/// dead-lettered as `endpoint_disabled`, and a replica that takes it over continues the run.
struct AutoDisableTests {
    let day: Int64 = 86_400_000
    let start: Int64 = 1_700_000_000_000

    func admission(after: Duration? = .seconds(86_400)) -> EndpointAdmission {
        var policy = EndpointPolicy()
        policy.autoDisableAfter = after
        policy.circuit = CircuitBreaker.Configuration(failureThreshold: 1_000_000, openDuration: .seconds(1), successesToClose: 1)
        return EndpointAdmission(policy: policy, limits: EndpointLimits(maxInFlight: 4, rateLimit: nil))
    }

    /// One attempt with this outcome at wall-clock `at`; what it disabled.
    func attempt(_ endpoint: inout EndpointAdmission, success: Bool, at: Int64) -> EndpointAdmission.Disabling? {
        guard case .attempt(let admission) = endpoint.enter(now: 0).0 else { return nil }
        return endpoint.leave(admission, .init(success: success, status: success ? 204 : 500, now: 0, at: at)).disabled
    }

    @Test func failingForTheWholePeriodDisablesAndASuccessStartsTheCountAgain() {
        var endpoint = admission()
        #expect(attempt(&endpoint, success: false, at: start) == nil)
        #expect(attempt(&endpoint, success: false, at: start + day - 1) == nil)
        #expect(attempt(&endpoint, success: true, at: start + day - 1) == nil)
        #expect(endpoint.failingSince == nil)
        let again = start + day
        #expect(attempt(&endpoint, success: false, at: again) == nil)
        #expect(attempt(&endpoint, success: false, at: again + day) == .failing(since: again))
        guard case .disabled(let reason, let cause) = endpoint.enter(now: 0).0 else {
            Issue.record("a disabled endpoint admits nothing")
            return
        }
        #expect(cause == .failing(since: again) && reason.contains("auto_disable_after 1d"), "\(reason)")
    }

    @Test func neverMeansNeverAndTheRunContinuesFromAnotherReplica() throws {
        var patient = admission(after: nil)
        #expect(attempt(&patient, success: false, at: start) == nil)
        #expect(attempt(&patient, success: false, at: start + 365 * day) == nil)

        // The previous owner published that it has been failing for two days.
        var takenOver = admission()
        takenOver.seed(failingSince: start - 2 * day)
        #expect(attempt(&takenOver, success: false, at: start) == .failing(since: start - 2 * day))

        let parsed = try EndpointsFile.parse(
            "endpoints:\n  - {id: a, url: \"http://a.example\", secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw], auto_disable_after: never}\n"
                + "  - {id: b, url: \"http://b.example\", secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw], auto_disable_after: 12h}\n"
                + "  - {id: c, url: \"http://c.example\", secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]}\n",
            environment: [:]
        )
        #expect(parsed.map(\.policy.autoDisableAfter) == [nil, .seconds(43_200), .seconds(5 * 86_400)])
        #expect(throws: ConfigurationError.self) {
            _ = try EndpointsFile.parse(
                "endpoints:\n  - {id: a, url: \"http://a.example\", secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw], auto_disable_after: soon}\n",
                environment: [:]
            )
        }
    }

    @Test func aRecordOfAnEndpointDisabledForFailingIsDeadLetteredAsEndpointDisabled() throws {
        var machine = CoreTest.machine(CoreTest.record())
        _ = machine.start(now: start)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: start)
        guard case .write(let dead) = machine.admitted(.disabled(reason: "every attempt failed", cause: .failing(since: start)), now: start) else {
            Issue.record("expected a dead letter")
            return
        }
        #expect(dead.purpose == .deadLetter(.endpointDisabled) && dead.state.lastError == "every attempt failed")
    }
}
