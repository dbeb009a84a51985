import Foundation
import Testing

/// `listen`'s and the broker control's command lines: bad input fails fast with a message naming
/// the problem. Their behaviour under traffic is what the reliability suite exercises.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ListenAndBrokerControlTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    @Test(arguments: [
        ("orders:5xx=2", "5xx needs a fraction"),
        ("orders:5xx=0.7,timeout=0.5", "add up to 1.2"),
        ("orders:status=700", "status must be an HTTP status"),
        ("orders:hang=soon", "hang needs a duration"),
        ("orders:explode=1", "unknown key 'explode'"),
        ("nobody:5xx=0.1", "no endpoint 'nobody'"),
        ("5xx=0.1", "expected ID:KEY=VALUE"),
    ])
    func badBehaviourSpecsAreRefused(_ spec: String, _ message: String) throws {
        let result = try WebhookRelayBinary.run(
            ["listen", "--port", "0", "--endpoint", "orders", "--secret", Self.secret, "--behaviour", spec], timeout: 30
        )
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!result.stderr.contains(Self.secret))
    }

    @Test func listenNeedsSecretsOrAnEndpointsFile() throws {
        let result = try WebhookRelayBinary.run(["listen", "--port", "0"], timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains("--endpoints FILE or --secret SECRET is required"))
    }

    @Test func brokerControlAnswersEveryCommand() throws {
        let broker = try BrokerProcess(partitions: 1, ["--retry-schedule", "1s"])
        defer { broker.stop() }
        #expect(try broker.control("rtt all 10ms") == "ok rtt all 10ms")
        #expect(try broker.control("request-errors init-producer-id COORDINATOR_NOT_AVAILABLE,15").hasPrefix("ok"))
        #expect(try broker.control("clear-request-errors init-producer-id").hasPrefix("ok"))
        #expect(try broker.control("topic-error webhooks.retry.1s LEADER_NOT_AVAILABLE").hasPrefix("ok"))
        #expect(try broker.control("topic-error webhooks.retry.1s NO_ERROR").hasPrefix("ok"))
        #expect(try broker.control("down 1") == "ok down 1")
        #expect(try broker.control("up all") == "ok up all")
        for (command, message) in [
            ("down 7", "no broker '7'"), ("rtt all soon", "not a duration"), ("request-errors gossip 1", "unknown request type 'gossip'"),
            ("request-errors produce NOT_A_CODE", "unknown Kafka error 'NOT_A_CODE'"), ("launch", "cannot run 'launch'"),
        ] {
            do {
                let reply = try broker.control(command)
                Issue.record("'\(command)' was accepted: \(reply)")
            } catch let error as BrokerProcess.ControlError {
                #expect(error.reply.contains(message), "\(error.reply)")
            }
        }
    }
}
