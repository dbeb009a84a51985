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
        await forwardToDelayTopic(hop, record: record, delivery: delivery, attempts: delivery.attempts, ticket: ticket, context: context, endpointID: endpointID) {
            self.count(.postponed, endpointID)
        }
        return true
    }

    /// Writes a hop to a delay topic; `written` runs once it is acknowledged. A hop the topic
    /// refuses (too large, invalid) is dead-lettered as `forward_failed` instead: it cannot wait,
    /// and retrying the write could never succeed.
    func forwardToDelayTopic(
        _ hop: KafkaProducerRecord, record: KafkaConsumerRecord, delivery: DeliveryRecord, attempts: Int, ticket: OffsetLedger.Ticket,
        context: WorkContext, endpointID: String, written: () -> Void
    ) async {
        switch await forward(hop, ticket: ticket, ledger: context.ledger, producer: context.producer) {
        case .written:
            written()
            context.ledger.finish(ticket)
        case .notOwned:
            context.ledger.abandon(ticket)
        case .refused(let error):
            logger.error("A delay topic refused the record; dead-lettering it", metadata: [
                "kafka.topic": "\(hop.topic)", "kafka.error": "\(error.name)", "endpoint.id": "\(endpointID)",
                "webhook.id": "\(delivery.webhookID)", "kafka.partition": "\(ticket.topicPartition)", "kafka.offset": "\(ticket.offset)",
            ])
            await deadLetter(
                record, delivery: delivery, reason: .forwardFailed,
                lastError: "\(hop.topic) refused the record (\(error.name)): \(hop.value.count) bytes of body",
                lastStatus: delivery.lastStatus, attempts: attempts, ticket: ticket, context: context, endpointID: endpointID
            )
        }
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
        var outcome = await forward(hop, ticket: ticket, ledger: context.ledger, producer: context.producer)
        if case .refused(let error) = outcome {
            // Kept as metadata: the DLQ says what died and why, without the body it cannot hold.
            logger.error("The DLQ refused the dead letter; writing it without its body", metadata: [
                "kafka.error": "\(error.name)", "endpoint.id": "\(endpointID)", "relay.reason": "\(reason)",
                "relay.body_bytes": "\(record.value.count)", "kafka.partition": "\(ticket.topicPartition)", "kafka.offset": "\(ticket.offset)",
            ])
            outcome = await forward(Self.withoutBody(hop, refusal: error), ticket: ticket, ledger: context.ledger, producer: context.producer)
        }
        switch outcome {
        case .written:
            count(.deadLettered, endpointID)
            metrics.deadLetter(reason: reason)
            context.ledger.finish(ticket)
        case .notOwned:
            context.ledger.abandon(ticket)
        case .refused(let error):
            // Not even the metadata fits (a DLQ with a tiny max.message.bytes): holding the
            // partition forever would stop every record behind it, so the record is let go, loudly.
            logger.critical("The DLQ refused the dead letter without its body too; the record is dropped", metadata: [
                "kafka.error": "\(error.name)", "endpoint.id": "\(endpointID)", "relay.reason": "\(reason)",
                "kafka.partition": "\(ticket.topicPartition)", "kafka.offset": "\(ticket.offset)",
            ])
            metrics.droppedRecord()
            context.ledger.finish(ticket)
        }
    }

    /// A dead letter without its body: the key, the contract's headers (each at most 1 KiB) and the
    /// relay's, with `relay-body-omitted` giving the body's size. `republish` skips such entries.
    static func withoutBody(_ hop: KafkaProducerRecord, refusal: KafkaError) -> KafkaProducerRecord {
        let contract: Set<String> = [RelayHeader.event, RelayHeader.id, RelayHeader.contentType]
        var headers = hop.headers.filter { header in
            (contract.contains(header.key) || RelayHeader.isRelayOwned(header.key)) && (header.value?.count ?? 0) <= 1_024
                && header.key != RelayHeader.lastError
        }
        headers.append(KafkaHeader(key: RelayHeader.bodyOmitted, value: String(hop.value.count)))
        let lastError = hop.headers.first(named: RelayHeader.lastError)?.stringValue.map { "\($0); " } ?? ""
        headers.append(KafkaHeader(key: RelayHeader.lastError, value: truncate("\(lastError)body omitted: the DLQ refused the record (\(refusal.name))")))
        return KafkaProducerRecord(topic: hop.topic, partition: hop.partition, key: hop.key, value: [], headers: headers)
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
    /// (with `webhook-id` added when it was derived), every `relay-*` header replaced by this
    /// hop's (a producer's forged ones never travel on).
    func hopRecord(
        _ record: KafkaConsumerRecord, topic: String, delivery: DeliveryRecord?, headers relayHeaders: [KafkaHeader]
    ) -> KafkaProducerRecord {
        var headers = record.headers.filter { !RelayHeader.isRelayOwned($0.key) }
        if let delivery, !headers.contains(where: { $0.key == RelayHeader.id }) {
            headers.append(KafkaHeader(key: RelayHeader.id, value: delivery.webhookID))
        }
        headers.append(contentsOf: relayHeaders)
        return KafkaProducerRecord(topic: topic, partition: record.partition, key: record.key, value: record.value, headers: headers)
    }

    /// How a hop ended.
    enum ForwardOutcome {
        /// The broker acknowledged it.
        case written
        /// The partition is no longer this replica's; nothing was written.
        case notOwned
        /// The record itself was refused (``KafkaError/isRecordRefused``): writing it again cannot work.
        case refused(KafkaError)
    }

    /// Produces a hop, retrying with backoff until the broker acknowledges it, refuses the record
    /// itself, or the partition is no longer ours. Nothing is written for a partition this replica
    /// no longer owns: its next owner decides about the record.
    func forward(_ hop: KafkaProducerRecord, ticket: OffsetLedger.Ticket, ledger: OffsetLedger, producer: KafkaProducer) async -> ForwardOutcome {
        var backoff = Duration.milliseconds(100)
        while ledger.isOwned(ticket) {
            do {
                let report = try await producer.send(hop)
                logger.trace("Forwarded", metadata: [
                    "kafka.topic": "\(hop.topic)", "kafka.partition": "\(report.partition)", "kafka.offset": "\(report.offset)",
                    "kafka.from": "\(ticket.topicPartition)@\(ticket.offset)",
                ])
                return .written
            } catch where error.isRecordRefused {
                return .refused(error)
            } catch {
                logger.warning(
                    "Producing to \(hop.topic) failed; retrying",
                    metadata: ["kafka.error": "\(error)", "kafka.partition": "\(ticket.topicPartition)", "kafka.offset": "\(ticket.offset)"]
                )
                guard !Task.isCancelled else { return .notOwned }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        return .notOwned
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
