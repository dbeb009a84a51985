import Foundation
import Kafka
import WebhookSignature

/// What the relay writes to Kafka for a record — hops to a delay topic, dead letters — and the
/// signed POST of an attempt.
extension DeliveryPipeline {
    /// Sends a record to a delay topic without using an attempt (circuit open, endpoint busy).
    /// Returns whether the record is done (`false`: parked after waiting here, see ``process(_:context:)``).
    func postpone(
        _ record: KafkaConsumerRecord, delivery: DeliveryRecord, wait: Duration, ticket: OffsetLedger.Ticket,
        context: WorkContext, endpointID: String
    ) async -> Bool {
        guard let next = planner.fitting(wait) else {
            // No delay topics (schedule `none`): wait here instead.
            try? await Task.sleep(for: wait)
            return await process(Work(decoded: .success(delivery), record: record, ticket: ticket), context: context)
        }
        var headers = hopHeaders(
            delivery: delivery, attempts: delivery.attempts,
            firstAttemptAt: delivery.firstAttemptAtMilliseconds ?? WallClock.nowMilliseconds,
            lastStatus: delivery.lastStatus, lastError: delivery.lastError
        )
        headers.append(KafkaHeader(key: RelayHeader.dueAt, value: String(WallClock.nowMilliseconds + next.wait.wholeMilliseconds)))
        let hop = hopRecord(record, topic: configuration.topics.retry(next.tier), delivery: delivery, headers: headers)
        if await forward(hop, ticket: ticket, ledger: context.ledger, producer: context.producer) {
            count(.postponed, endpointID)
            context.ledger.finish(ticket)
        } else {
            context.ledger.abandon(ticket)
        }
        return true
    }

    /// Signs and POSTs one attempt.
    func attempt(
        _ delivery: DeliveryRecord, endpoint: Endpoint, at now: Int64, http: WebhookHTTPClient, cancellation: AttemptCancellation
    ) async -> AttemptResult {
        var headers: [(name: String, value: String)]
        do {
            headers = try endpoint.signer.headers(
                id: delivery.webhookID, timestamp: now / 1_000, event: delivery.event, body: delivery.body
            )
        } catch {
            return AttemptResult(status: nil, error: "signing failed: \(error)", duration: .zero)
        }
        if endpoint.scheme != .nself {
            headers.append(("Content-Type", delivery.contentType))
        }
        // Informational (not signed): which attempt this is, for the receiver's logs.
        headers.append((RelayHeader.attemptHTTPHeader, String(delivery.attempts + 1)))
        headers.append(contentsOf: endpoint.headers)
        return await http.post(url: endpoint.url, headers: headers, body: delivery.body, timeout: endpoint.timeout, cancellation: cancellation)
    }

    func deadLetter(
        _ record: KafkaConsumerRecord,
        delivery: DeliveryRecord?,
        reason: DeadLetterReason,
        lastError: String?,
        lastStatus: Int?,
        attempts: Int,
        firstAttemptAt: Int64? = nil,
        ticket: OffsetLedger.Ticket,
        context: WorkContext,
        endpointID: String
    ) async {
        var headers = hopHeaders(
            delivery: delivery, attempts: attempts,
            firstAttemptAt: firstAttemptAt ?? delivery?.firstAttemptAtMilliseconds,
            lastStatus: lastStatus, lastError: lastError,
            origin: delivery?.origin ?? DeliveryRecord.Origin(topic: record.topic, partition: record.partition, offset: record.offset)
        )
        headers.append(KafkaHeader(key: RelayHeader.deadLetterReason, value: reason.rawValue))
        headers.append(KafkaHeader(key: RelayHeader.diedAt, value: String(WallClock.nowMilliseconds)))
        let hop = hopRecord(record, topic: configuration.topics.deadLetters, delivery: delivery, headers: headers)
        if await forward(hop, ticket: ticket, ledger: context.ledger, producer: context.producer) {
            count(.deadLettered, endpointID)
            metrics.deadLetter(reason: reason)
            context.ledger.finish(ticket)
        } else {
            context.ledger.abandon(ticket)
        }
    }

    /// The relay's headers for a hop (replacing any from an earlier hop).
    func hopHeaders(
        delivery: DeliveryRecord?, attempts: Int, firstAttemptAt: Int64?, lastStatus: Int?, lastError: String?,
        origin: DeliveryRecord.Origin? = nil
    ) -> [KafkaHeader] {
        var headers: [KafkaHeader] = [KafkaHeader(key: RelayHeader.attempts, value: String(attempts))]
        if let firstAttemptAt { headers.append(KafkaHeader(key: RelayHeader.firstAttemptAt, value: String(firstAttemptAt))) }
        if let origin = origin ?? delivery?.origin {
            headers.append(KafkaHeader(key: RelayHeader.originTopic, value: origin.topic))
            headers.append(KafkaHeader(key: RelayHeader.originPartition, value: String(origin.partition)))
            headers.append(KafkaHeader(key: RelayHeader.originOffset, value: String(origin.offset)))
        }
        if let lastStatus { headers.append(KafkaHeader(key: RelayHeader.lastStatus, value: String(lastStatus))) }
        if let lastError { headers.append(KafkaHeader(key: RelayHeader.lastError, value: Self.truncate(lastError))) }
        return headers
    }

    /// The record for a hop: same key, body and partition number; the producer's headers kept
    /// (with `webhook-id` added when it was derived), the relay's headers replaced.
    func hopRecord(
        _ record: KafkaConsumerRecord, topic: String, delivery: DeliveryRecord?, headers relayHeaders: [KafkaHeader]
    ) -> KafkaProducerRecord {
        var headers = record.headers.filter { !RelayHeader.relayOwned.contains($0.key) }
        if let delivery, !headers.contains(where: { $0.key == RelayHeader.id }) {
            headers.append(KafkaHeader(key: RelayHeader.id, value: delivery.webhookID))
        }
        headers.append(contentsOf: relayHeaders)
        return KafkaProducerRecord(topic: topic, partition: record.partition, key: record.key, value: record.value, headers: headers)
    }

    /// Produces a hop, retrying with backoff until the broker acknowledges it or the partition is
    /// no longer ours. Returns whether it was acknowledged. Nothing is written for a partition
    /// this replica no longer owns: its next owner decides about the record.
    func forward(_ hop: KafkaProducerRecord, ticket: OffsetLedger.Ticket, ledger: OffsetLedger, producer: KafkaProducer) async -> Bool {
        var backoff = Duration.milliseconds(100)
        while ledger.isOwned(ticket) {
            do {
                let report = try await producer.send(hop)
                logger.trace("Forwarded", metadata: [
                    "kafka.topic": "\(hop.topic)", "kafka.partition": "\(report.partition)", "kafka.offset": "\(report.offset)",
                    "kafka.from": "\(ticket.topicPartition)@\(ticket.offset)",
                ])
                return true
            } catch {
                logger.warning(
                    "Producing to \(hop.topic) failed; retrying",
                    metadata: ["kafka.error": "\(error)", "kafka.partition": "\(ticket.topicPartition)", "kafka.offset": "\(ticket.offset)"]
                )
                guard !Task.isCancelled else { return false }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        return false
    }

    static func truncate(_ text: String) -> String {
        guard text.utf8.count > RelayHeader.lastErrorLimit else { return text }
        var result = ""
        for character in text {
            if result.utf8.count + character.utf8.count > RelayHeader.lastErrorLimit - 3 { break }
            result.append(character)
        }
        return result + "..."
    }
}
