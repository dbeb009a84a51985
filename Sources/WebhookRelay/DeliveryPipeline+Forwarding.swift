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
        var state = Self.hopState(
            delivery: delivery, attempts: delivery.attempts,
            firstAttemptAt: delivery.firstAttemptAtMilliseconds ?? WallClock.nowMilliseconds,
            lastStatus: delivery.lastStatus, lastError: delivery.lastError
        )
        state.dueAt = WallClock.nowMilliseconds + next.wait.wholeMilliseconds
        let hop = state.hop(of: record, to: configuration.topics.retry(next.tier), webhookID: delivery.webhookID)
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
        let outcome = await forward(hop, ticket: ticket, ledger: context.ledger, producer: context.producer)
        guard let error = settle(outcome, ticket: ticket, ledger: context.ledger, written: written) else { return }
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

    /// Ends a forwarded record's ticket: finished once written (after `written`), abandoned to the
    /// next owner when the partition was not ours. Returns the refusal, for the caller to decide.
    func settle(_ outcome: ForwardOutcome, ticket: OffsetLedger.Ticket, ledger: OffsetLedger, written: () -> Void) -> KafkaError? {
        switch outcome {
        case .written:
            written()
            ledger.finish(ticket)
            return nil
        case .notOwned:
            ledger.abandon(ticket)
            return nil
        case .refused(let error):
            return error
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
        var state = Self.hopState(
            delivery: delivery, attempts: attempts,
            firstAttemptAt: firstAttemptAt ?? delivery?.firstAttemptAtMilliseconds,
            lastStatus: lastStatus, lastError: lastError,
            origin: delivery?.origin ?? DeliveryRecord.Origin(topic: record.topic, partition: record.partition, offset: record.offset)
        )
        state.deadLetterReason = reason.rawValue
        state.diedAt = WallClock.nowMilliseconds
        let hop = state.hop(of: record, to: configuration.topics.deadLetters, webhookID: delivery?.webhookID)
        var outcome = await forward(hop, ticket: ticket, ledger: context.ledger, producer: context.producer)
        if case .refused(let error) = outcome {
            // Kept as metadata: the DLQ says what died and why, without the body it cannot hold.
            logger.error("The DLQ refused the dead letter; writing it without its body", metadata: [
                "kafka.error": "\(error.name)", "endpoint.id": "\(endpointID)", "relay.reason": "\(reason)",
                "relay.body_bytes": "\(record.value.count)", "kafka.partition": "\(ticket.topicPartition)", "kafka.offset": "\(ticket.offset)",
            ])
            outcome = await forward(Self.withoutBody(hop, state: state, refusal: error), ticket: ticket, ledger: context.ledger, producer: context.producer)
        }
        let written = {
            self.count(.deadLettered, endpointID)
            self.metrics.deadLetter(reason: reason)
        }
        guard let error = settle(outcome, ticket: ticket, ledger: context.ledger, written: written) else { return }
        // Not even the metadata fits (a DLQ with a tiny max.message.bytes): holding the partition
        // forever would stop every record behind it, so the record is let go, loudly.
        logger.critical("The DLQ refused the dead letter without its body too; the record is dropped", metadata: [
            "kafka.error": "\(error.name)", "endpoint.id": "\(endpointID)", "relay.reason": "\(reason)",
            "kafka.partition": "\(ticket.topicPartition)", "kafka.offset": "\(ticket.offset)",
        ])
        metrics.droppedRecord()
        context.ledger.finish(ticket)
    }

    /// A dead letter without its body: the key, the contract's headers (each at most 1 KiB) and the
    /// relay's, with `relay-body-omitted` giving the body's size. `republish` skips such entries.
    static func withoutBody(_ hop: KafkaProducerRecord, state: HopState, refusal: KafkaError) -> KafkaProducerRecord {
        let contract: Set<String> = [RelayHeader.event, RelayHeader.id, RelayHeader.contentType]
        var kept = state
        kept.bodyOmitted = hop.value.count
        kept.lastError = (state.lastError.map { "\($0); " } ?? "") + "body omitted: the DLQ refused the record (\(refusal.name))"
        let headers = hop.headers.filter { contract.contains($0.key) && ($0.value?.count ?? 0) <= 1_024 } + kept.headers
        return KafkaProducerRecord(topic: hop.topic, partition: hop.partition, key: hop.key, value: [], headers: headers)
    }

    /// The relay's state for a hop, with the origin of the delivery (or the given one).
    static func hopState(
        delivery: DeliveryRecord?, attempts: Int, firstAttemptAt: Int64?, lastStatus: Int?, lastError: String?,
        origin: DeliveryRecord.Origin? = nil
    ) -> HopState {
        var state = HopState()
        state.attempts = attempts
        state.firstAttemptAt = firstAttemptAt
        state.origin = origin ?? delivery?.origin
        state.lastStatus = lastStatus
        state.lastError = lastError
        return state
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
}
