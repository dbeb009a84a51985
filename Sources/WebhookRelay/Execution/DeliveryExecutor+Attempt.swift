import Kafka
import Logging

/// Making an attempt on an attempt worker, and what the relay tells its logs and metrics about
/// attempts and settled records.
extension DeliveryExecutor {
    /// Makes an admitted attempt; returns the machine's next action. An attempt is not started for
    /// a partition that is being let go (the next owner makes it), and one the relay cuts short
    /// (``InFlightAttempts/cutShort(_:)``) is not the endpoint's failure.
    func attempt(_ flight: inout RecordFlight, _ admission: EndpointAdmission.Admission, number: Int) async -> DeliveryAction {
        // Still ours, and not being let go? (The attempt workers are as many as attempts may be
        // in flight: a worker's attempt needs no other slot.)
        let startedAt = clock.wallMilliseconds
        guard flight.ticket.isCurrent, !Task.isCancelled, let made = flight.machine.attemptRequest(number: number, now: startedAt) else {
            return flight.machine.revoked()
        }
        let endpoint = flight.machine.keyText
        // The relay's own latency is measured for records that waited for nothing but the relay:
        // first attempts, not from a delay topic (a due time), not held by their endpoint's limits.
        let handedOver = number == 1 && flight.machine.tier == nil && !admission.waited ? flight.record.receivedAt : 0
        if admission.waited { metrics.rateLimitWait(endpoint) }
        let result: AttemptResult
        switch made {
        case .success(let request):
            let cancellation = onTheWire.begin(flight.topicPartition)
            // A worker cancelled since the check above cut short what was registered then.
            if Task.isCancelled { cancellation.cancel() }
            result = await dependencies.transport.post(
                url: request.url, headers: request.headers, body: request.body, timeout: request.timeout, cancellation: cancellation
            )
            onTheWire.end(cancellation)
        case .failure(let failure):
            result = AttemptResult(failure.outcome, duration: .zero)
        }
        observe(result, endpoint: endpoint, webhookID: flight.machine.delivery?.webhookID ?? "", number: number)
        if handedOver != 0, result.answeredAt != 0 {
            latency.record(handedOver: handedOver, written: result.writtenAt, answered: result.answeredAt)
        }
        // The draw is for a retry's jitter: a delivered record needs none.
        let random = result.outcome.succeeded ? 0 : dependencies.random()
        return flight.machine.attempted(result.outcome, startedAt: startedAt, now: clock.wallMilliseconds, random: random)
    }

    /// Logs and metrics of an attempt's outcome.
    private func observe(_ result: AttemptResult, endpoint: String, webhookID: String, number: Int) {
        let outcome = result.outcome
        if case .localShortage = outcome {
            // No descriptor for a connection (something else holds them): the relay's shortage,
            // not the endpoint's failure. The attempt keeps its slot and is made again.
            metrics.localShortage()
            logger.warning("No file descriptor for a connection; the attempt waits for one", metadata: [
                "endpoint.id": "\(endpoint)", "webhook.id": "\(webhookID)", "error": "\(outcome.errorText ?? "")",
            ])
            return
        }
        guard outcome.isEndpointResult else { return }
        metrics.attemptDuration(endpoint, result.duration)
        if outcome.succeeded {
            logger.debug("Delivered", metadata: [
                "endpoint.id": "\(endpoint)", "webhook.id": "\(webhookID)", "attempt": "\(number)", "http.status": "\(outcome.status ?? 0)",
            ])
            return
        }
        count(.failedAttempt, endpoint)
        metrics.failedAttempt(endpoint, kind: outcome.kind)
        logger.info("Attempt failed", metadata: [
            "endpoint.id": "\(endpoint)", "webhook.id": "\(webhookID)", "attempt": "\(number)",
            "http.status": "\(outcome.status.map(String.init) ?? "-")", "error": "\(outcome.errorText ?? "")", "error.class": "\(outcome.kind)",
        ])
        if case .refusedAddress(let refusal) = outcome {
            logger.warning("Endpoint address refused by the SSRF guard", metadata: [
                "endpoint.id": "\(endpoint)", "relay.reason": "\(refusal.reason)",
            ])
        }
    }

    /// Logs a write that is not the delivery's own ending (an invalid record, an unknown
    /// endpoint, a refusal by Kafka).
    func note(_ write: DeliveryAction.Write, of flight: borrowing RecordFlight) {
        guard let cause = write.cause else { return }
        let record = flight.record
        let position: Logger.Metadata = [
            "kafka.topic": "\(record.topic)", "kafka.partition": "\(record.partition)", "kafka.offset": "\(record.offset)",
        ]
        switch cause {
        case .invalidRecord(let defect):
            logger.warning("Invalid record dead-lettered", metadata: position.merging([
                "relay.reason": "\(defect.reason)", "relay.detail": "\(defect.detail)",
            ]) { $1 })
        case .unknownEndpoint:
            logger.warning("Record for an unknown endpoint dead-lettered", metadata: position.merging([
                "endpoint.id": "\(flight.machine.endpointID)", "webhook.id": "\(write.webhookID ?? "")",
            ]) { $1 })
        case .delayTopicRefused(let topic, let error):
            logger.error("A delay topic refused the record; dead-lettering it", metadata: position.merging([
                "kafka.delay_topic": "\(topic)", "kafka.error": "\(error)", "endpoint.id": "\(flight.machine.endpointID)",
                "webhook.id": "\(write.webhookID ?? "")",
            ]) { $1 })
        case .deadLetterRefused(let error):
            logger.error("The DLQ refused the dead letter; writing it without its body", metadata: position.merging([
                "kafka.error": "\(error)", "endpoint.id": "\(flight.machine.endpointID)",
                "relay.reason": "\(write.deadLetterReason.map(\.rawValue) ?? "")", "relay.body_bytes": "\(record.value.count)",
            ]) { $1 })
        }
    }

    /// Counts what became of a settled record.
    func count(_ tally: DeliveryAction.Tally, flight: borrowing RecordFlight) {
        let endpoint = flight.machine.endpointID
        switch tally {
        case .none:
            return
        case .delivered:
            count(.delivered, endpoint)
        case .skipped:
            count(.skipped, endpoint)
        case .retried(let tier):
            count(.retried, endpoint)
            metrics.retry(tier: DurationText.format(tier))
        case .postponed:
            count(.postponed, endpoint)
        case .deadLettered(let reason):
            count(.deadLettered, endpoint)
            metrics.deadLetter(reason: reason)
        case .dropped(let reason):
            // Not even the metadata fits (a DLQ with a tiny max.message.bytes): holding the
            // partition forever would stop every record behind it, so the record is let go, loudly.
            logger.critical("The DLQ refused the dead letter without its body too; the record is dropped", metadata: [
                "endpoint.id": "\(endpoint)", "relay.reason": "\(reason)",
                "kafka.partition": "\(flight.topicPartition)", "kafka.offset": "\(flight.record.offset)",
            ])
            metrics.droppedRecord()
        case .cutShort:
            count(.cutShort, endpoint)
            logger.info("Attempt cut short: its partition was let go; the next owner makes it", metadata: [
                "endpoint.id": "\(endpoint)", "webhook.id": "\(flight.machine.delivery?.webhookID ?? "")",
                "attempt": "\((flight.machine.delivery?.attempts ?? 0) + 1)",
            ])
        }
    }

    /// Counts an outcome in the statistics and the metrics.
    func count(_ outcome: DeliveryStatistics.Outcome, _ endpointID: String) {
        statistics.count(outcome, endpointID)
        metrics.delivery(endpointID, outcome)
    }
}
