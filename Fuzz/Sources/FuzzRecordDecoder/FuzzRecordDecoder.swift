// libFuzzer target: DeliveryRecord.decode over arbitrary Kafka records, then what the pipeline does
// with a decoded record that is pure: signing its body, and decoding the record it would write on a
// hop to a delay topic (the same id, event and origin must come back).
//
// Input layout: FuzzRecordInput.swift (shared with FuzzRegressionTests through a link).
import Kafka
import WebhookRelay
import WebhookSignature

let bodyLimit = 512
let signers: [WebhookSigner] = [
    try! WebhookSigner(scheme: .standard, secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]),
    try! WebhookSigner(scheme: .nself, secrets: ["nself-secret"]),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    guard let record = FuzzRecordInput.record(Array(input)) else { return -1 }
    // The fuzzer's records may sit on a delay topic, where relay headers are read.
    switch DeliveryRecord.decode(record, bodyLimit: bodyLimit, trustingRelayHeaders: true) {
    case .failure(let defect):
        check(!defect.detail.isEmpty, "a defect without a detail")
        check(defect.reason == .malformed || defect.reason == .payloadTooLarge, "unexpected reason \(defect.reason)")
    case .success(let delivery):
        checkContract(delivery, record: record)
        pipelineArithmetic(delivery)
        sign(delivery)
        checkHop(delivery, record: record)
    }
    return 0
}

/// What docs/records.md promises about an accepted record.
func checkContract(_ delivery: DeliveryRecord, record: KafkaConsumerRecord) {
    check(!delivery.endpointID.isEmpty && Array(delivery.endpointID.utf8) == record.key, "endpoint id is not the key")
    check(!delivery.event.isEmpty && delivery.event.utf8.count <= 256, "event length")
    check(delivery.event.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }, "event not printable")
    check(delivery.contentType.utf8.count <= 256, "content type length")
    check(DeliveryRecord.isValidID(delivery.webhookID), "invalid webhook id accepted: \(delivery.webhookID)")
    check(delivery.body == record.value && delivery.body.count <= bodyLimit, "body changed or over the limit")
    check(delivery.attempts >= 0, "negative attempts")
    check(delivery.origin.partition >= 0 && delivery.origin.offset >= 0, "negative origin")
    check(delivery.headers == record.headers, "headers changed")
}

/// The arithmetic DeliveryPipeline does on a decoded record's numbers (with Swift's trapping
/// operators, as there): the attempt number, the circuit's age check, the wait until due.
func pipelineArithmetic(_ delivery: DeliveryRecord) {
    let now: Int64 = 1_700_000_000_000
    let attempts = delivery.attempts + 1
    let firstSeen = delivery.firstAttemptAtMilliseconds ?? now
    let circuitTooOld = now - firstSeen > Int64(3 * 86_400_000)
    var wait = Duration.zero
    if let dueAt = delivery.dueAtMilliseconds, dueAt > now {
        wait = .milliseconds(min(dueAt - now, 200))
    }
    // Used, so that the optimizer keeps the overflow checks.
    sink &+= attempts &+ (circuitTooOld ? 1 : 0) &+ Int(wait.components.seconds) &+ String(delivery.lastStatus ?? 0).utf8.count
}

nonisolated(unsafe) var sink = 0

/// Signing never fails for an accepted record, and its headers are sendable HTTP header values.
func sign(_ delivery: DeliveryRecord) {
    for signer in signers {
        let headers: [(name: String, value: String)]
        do {
            headers = try signer.headers(id: delivery.webhookID, timestamp: 1_700_000_000, event: delivery.event, body: delivery.body)
        } catch {
            fatalError("signing failed: \(error)")
        }
        for (name, value) in headers {
            check(!name.isEmpty && !value.isEmpty, "empty header")
            check(!value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }, "header \(name) would split the request")
        }
    }
}

/// The record written to a delay topic after a failed attempt (as the pipeline builds it, with
/// `HopState`: the producer's headers without the relay's, `webhook-id` when it was derived, then
/// the relay's) decodes to the same delivery, one attempt later.
func checkHop(_ delivery: DeliveryRecord, record: KafkaConsumerRecord) {
    // A schedule has a handful of delays: past it a delivery is dead-lettered, not hopped.
    guard delivery.attempts < 1_000 else { return }
    var state = HopState()
    state.attempts = delivery.attempts + 1
    state.firstAttemptAt = delivery.firstAttemptAtMilliseconds ?? 1_700_000_000_000
    state.origin = delivery.origin
    state.lastStatus = 503
    state.dueAt = 1_700_000_005_000
    let produced = state.hop(of: record, to: FuzzRecordInput.delayTopic, webhookID: delivery.webhookID)
    let hop = KafkaConsumerRecord(
        topicPartition: KafkaTopicPartition(topic: FuzzRecordInput.delayTopic, partition: record.partition),
        offset: 7, key: produced.key, value: produced.value, headers: produced.headers
    )
    switch DeliveryRecord.decode(hop, bodyLimit: bodyLimit, trustingRelayHeaders: true) {
    case .failure(let defect):
        fatalError("an accepted record's hop is rejected: \(defect)")
    case .success(let again):
        check(again.webhookID == delivery.webhookID, "the id changed on a hop: \(delivery.webhookID) -> \(again.webhookID)")
        check(again.event == delivery.event && again.endpointID == delivery.endpointID, "event or endpoint changed on a hop")
        check(again.contentType == delivery.contentType, "content type changed on a hop")
        check(again.origin == delivery.origin, "origin changed on a hop")
        check(again.attempts == delivery.attempts + 1 && again.lastStatus == 503, "attempts or status lost on a hop")
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
