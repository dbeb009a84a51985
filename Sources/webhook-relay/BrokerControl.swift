import Foundation
import Kafka
import WebhookRelay

/// Fault injection for a running `webhook-relay broker`: one command per line on its standard
/// input, one reply per line on its standard output (`ok …` or `error: …`).
///
/// ```
/// down 1|all              broker 1 (or every broker) stops answering; its connections close
/// up 1|all                the broker is back
/// rtt 1|all 500ms         every response of the broker is delayed
/// request-errors produce NOT_LEADER_OR_FOLLOWER,REQUEST_TIMED_OUT
///                         the next requests of that type fail with these codes, one each
/// clear-request-errors produce
/// topic-error webhooks.retry.1s LEADER_NOT_AVAILABLE   (0 or NO_ERROR clears it)
/// help
/// ```
struct BrokerControl {
    let broker: EmbeddedBroker

    static let help = """
        commands: down ID|all · up ID|all · rtt ID|all DURATION · request-errors TYPE CODE[,CODE…] · \
        clear-request-errors TYPE · topic-error TOPIC CODE · help; TYPE is one of \
        \(EmbeddedBroker.RequestType.allCases.map(\.name).joined(separator: ", ")); CODE is a Kafka error name or number
        """

    /// Runs one command line and returns the reply.
    func execute(_ line: String) -> String {
        let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
        guard let command = words.first else { return "error: empty command; \(Self.help)" }
        do {
            switch (command, words.count) {
            case ("down", 2):
                for id in try brokers(words[1]) { try broker.setBrokerDown(id) }
            case ("up", 2):
                for id in try brokers(words[1]) { try broker.setBrokerUp(id) }
            case ("rtt", 3):
                guard let delay = DurationText.parse(words[2]) else { throw Failure("'\(words[2])' is not a duration like 500ms") }
                for id in try brokers(words[1]) { try broker.setRoundTripTime(delay, broker: id) }
            case ("request-errors", 3):
                let codes = try words[2].split(separator: ",").map { try code(String($0)) }
                broker.pushRequestErrors(try requestType(words[1]), codes)
            case ("clear-request-errors", 2):
                broker.clearRequestErrors(try requestType(words[1]))
            case ("topic-error", 3):
                broker.setTopicError(words[1], errorCode: words[2].uppercased() == "NO_ERROR" ? 0 : try code(words[2]))
            case ("help", 1):
                return "ok \(Self.help)"
            default:
                throw Failure("cannot run '\(line)'; \(Self.help)")
            }
            return "ok \(words.joined(separator: " "))"
        } catch let failure as Failure {
            return "error: \(failure.message)"
        } catch {
            return "error: \(error)"
        }
    }

    private struct Failure: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    private func brokers(_ word: String) throws -> [Int32] {
        if word == "all" { return broker.brokerIDs }
        guard let id = Int32(word), broker.brokerIDs.contains(id) else {
            throw Failure("no broker '\(word)' (brokers: \(broker.brokerIDs.map(String.init).joined(separator: ", ")), or all)")
        }
        return [id]
    }

    private func requestType(_ word: String) throws -> EmbeddedBroker.RequestType {
        guard let type = EmbeddedBroker.RequestType.allCases.first(where: { $0.name == word }) else {
            throw Failure("unknown request type '\(word)' (\(EmbeddedBroker.RequestType.allCases.map(\.name).joined(separator: ", ")))")
        }
        return type
    }

    private func code(_ word: String) throws -> Int32 {
        guard let code = KafkaError.brokerErrorCode(named: word) else { throw Failure("unknown Kafka error '\(word)'") }
        return code
    }

    /// Reads commands from standard input on a thread of its own until end of input.
    func serveStandardInput() {
        let thread = Thread {
            while let line = readLine() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
                FileHandle.standardOutput.write(Data((execute(trimmed) + "\n").utf8))
            }
        }
        thread.name = "broker-control"
        thread.start()
    }
}
