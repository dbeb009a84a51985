import Kafka
import Logging
import Synchronization
import Testing
import WebhookSignature
@testable import WebhookRelay

/// Stand-ins for the delivery core's protocols and its clock: the executor and the state machine
/// are tested with no broker, no network and time that moves only when a test moves it.
enum CoreTest {
    static let topics: RelayTopics = {
        do { return try RelayTopics(prefix: "t", schedule: RetrySchedule(parsing: "1s,5s,30s")) } catch { fatalError("\(error)") }
    }()

    /// Logs only what is critical (the executor's warnings are expected in these tests).
    static let quietLogger: Logger = {
        var logger = Logger(label: "core-tests")
        logger.logLevel = .critical
        return logger
    }()

    static let configuration = DeliveryStateMachine.Configuration(planner: RetryPlanner(topics: topics, jitter: 0.1))

    static let signer: WebhookSigner = {
        do { return try WebhookSigner(scheme: .standard, secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]) } catch { fatalError("\(error)") }
    }()

    /// An endpoint with the given policy.
    static func endpoint(_ id: String = "orders", policy: EndpointPolicy = EndpointPolicy(), maxInFlight: Int = 4, events: [String] = []) -> Endpoint {
        Endpoint(
            id: id, url: "http://127.0.0.1:9/\(id)", scheme: .standard, signer: signer, events: events.map(EventPattern.init),
            timeout: .seconds(1), maxInFlight: maxInFlight, headers: [], policy: policy
        )
    }

    /// A record of the contract for `endpoint` on `topic` (a delay topic's relay headers in `relay`).
    static func record(
        _ endpoint: String? = "orders", offset: Int64 = 0, topic: String = topics.deliveries, partition: Int32 = 0,
        event: String? = "order.created", id: String? = "msg_1", relay: [(String, String)] = [], body: [UInt8] = Array("{}".utf8)
    ) -> KafkaConsumerRecord {
        var headers: [KafkaHeader] = []
        if let event { headers.append(KafkaHeader(key: "webhook-event", value: event)) }
        if let id { headers.append(KafkaHeader(key: "webhook-id", value: id)) }
        headers += relay.map { KafkaHeader(key: $0.0, value: $0.1) }
        return KafkaConsumerRecord(
            topicPartition: KafkaTopicPartition(topic: topic, partition: partition), offset: offset,
            key: endpoint.map { Array($0.utf8) }, value: body, headers: headers
        )
    }

    /// The admission of an endpoint's decision to attempt; a recorded issue (and a thrown error) otherwise.
    static func admitted(_ entered: (EndpointAdmission.Decision, EndpointAdmission.Resumption)) throws -> EndpointAdmission.Admission {
        guard case .attempt(let admission) = entered.0 else {
            Issue.record("expected an attempt, got \(entered.0)")
            throw CancellationError()
        }
        return admission
    }

    /// A state machine for `record`, decoded as the executor decodes it.
    static func machine(_ record: KafkaConsumerRecord, bodyLimit: Int = 1_048_576) -> DeliveryStateMachine {
        let tier = topics.delay(ofRetryTopic: record.topic)
        let decoded = DeliveryRecord.decode(record, bodyLimit: bodyLimit, trustingRelayHeaders: tier != nil)
        return DeliveryStateMachine(record: record, decoded: decoded, tier: tier, configuration: configuration)
    }
}

/// Time that moves only when the test moves it.
final class ManualClock: RelayClock {
    private struct State {
        var wall: Int64
        var monotonic: Int64 = 0
        var sleepers: [Int: (deadline: Int64, continuation: CheckedContinuation<Void, Never>)] = [:]
        var nextID = 0
    }

    private let state: Mutex<State>

    init(wall: Int64 = 1_700_000_000_000) {
        state = Mutex(State(wall: wall))
    }

    var wallMilliseconds: Int64 { state.withLock { $0.wall } }
    var monotonicMilliseconds: Int64 { state.withLock { $0.monotonic } }

    /// Moves both clocks and wakes the sleepers whose time came.
    func advance(by milliseconds: Int64) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.wall += milliseconds
            state.monotonic += milliseconds
            let due = state.sleepers.filter { $0.value.deadline <= state.monotonic }
            for id in due.keys { state.sleepers[id] = nil }
            return due.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    func sleep(untilMonotonic deadline: Int64) async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if deadline <= state.monotonic || Task.isCancelled { return true }
                    state.sleepers[id] = (deadline, continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume()
        }
    }
}

/// Records what the executor writes; can refuse records by topic.
final class RecordingSink: RecordSink {
    private let written = Mutex<[KafkaProducerRecord]>([])
    private let refusing = Mutex<Set<String>>([])

    func refuse(topic: String) { refusing.withLock { _ = $0.insert(topic) } }

    func write(_ record: KafkaProducerRecord) async throws(KafkaError) -> KafkaDeliveryReport {
        if refusing.withLock({ $0.contains(record.topic) }) && !record.value.isEmpty {
            throw KafkaError(code: 10, name: "MSG_SIZE_TOO_LARGE", message: "Broker: Message size too large")
        }
        // Offsets as a single-partition topic would give them, per topic.
        let offset = written.withLock { written in
            defer { written.append(record) }
            return Int64(written.filter { $0.topic == record.topic }.count)
        }
        return KafkaDeliveryReport(partition: record.partition ?? 0, offset: offset)
    }

    var records: [KafkaProducerRecord] { written.withLock { $0 } }
}

/// Answers each attempt with the next scripted outcome (then 204s) and records the requests.
final class ScriptedTransport: DeliveryTransport {
    struct Request: Sendable {
        var url: String
        var headers: [String: String]
    }

    private let script: Mutex<[AttemptOutcome]>
    private let seen = Mutex<[Request]>([])

    init(_ outcomes: [AttemptOutcome] = []) {
        script = Mutex(outcomes)
    }

    func post(
        url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration, cancellation: AttemptCancellation?
    ) async -> AttemptResult {
        seen.withLock { $0.append(Request(url: url, headers: Dictionary(headers.map { ($0.name, $0.value) }) { first, _ in first })) }
        let outcome = script.withLock { $0.isEmpty ? .answered(.init(status: 204)) : $0.removeFirst() }
        return AttemptResult(outcome, duration: .milliseconds(3))
    }

    var requests: [Request] { seen.withLock { $0 } }
}

/// Takes every attempt and answers none until the relay cuts it short.
final class HangingTransport: DeliveryTransport {
    private let count = Mutex(0)

    func post(
        url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration, cancellation: AttemptCancellation?
    ) async -> AttemptResult {
        count.withLock { $0 += 1 }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if let cancellation { cancellation.onCancel { continuation.resume() } } else { continuation.resume() }
        }
        return AttemptResult(.cutShort, duration: .zero)
    }

    var requests: Int { count.withLock { $0 } }
}

/// Records pauses and resumes of partitions, and hands out the records a test buffers.
final class RecordingSource: RecordSource {
    private let events = Mutex<[String]>([])
    private let buffered = Mutex<[KafkaConsumerRecord]>([])

    /// Records for ``nextBuffered()`` to hand out, in order.
    func buffer(_ records: [KafkaConsumerRecord]) { buffered.withLock { $0 += records } }

    func nextBuffered() -> KafkaConsumerRecord? { buffered.withLock { $0.isEmpty ? nil : $0.removeFirst() } }

    func pause(_ topicPartitions: [KafkaTopicPartition]) { events.withLock { $0 += topicPartitions.map { "pause \($0)" } } }
    func resume(_ topicPartitions: [KafkaTopicPartition]) { events.withLock { $0 += topicPartitions.map { "resume \($0)" } } }

    var log: [String] { events.withLock { $0 } }
}

/// Waits (briefly, in a unit test) until `condition` holds.
func eventually(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<2_000 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}
