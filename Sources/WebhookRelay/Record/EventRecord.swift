import Foundation
import Kafka

/// An event of the events topic (`<prefix>.events`, docs/records.md): published once, delivered
/// to every endpoint subscribed to it.
///
/// - key: the tenant (or application) the event belongs to;
/// - `webhook-event`: the event type (required);
/// - `webhook-id`: the message id every delivery of the event carries (derived from the event's
///   coordinates when absent);
/// - `webhook-endpoints`: optional comma-separated endpoint ids: only those of the tenant's
///   subscribed endpoints receive it;
/// - `content-type` and any other header: passed on to every delivery.
public struct EventRecord: Sendable {
    /// The tenant (the record key).
    public var tenant: String
    /// The event type.
    public var event: String
    /// The message id of every delivery.
    public var webhookID: String
    /// The endpoints named by the producer, or `nil` for every subscriber.
    public var endpoints: [String]?

    /// Header naming the endpoints an event is for.
    public static let endpointsHeader = "webhook-endpoints"
    /// Endpoint ids one event may name, at most.
    public static let maxNamedEndpoints = 1_000

    /// Decodes a consumed event; every defect is returned as a dead-letter reason, never trapped.
    public static func decode(_ record: KafkaConsumerRecord, bodyLimit: Int) -> Result<EventRecord, DeliveryRecordDefect> {
        func malformed(_ detail: String) -> Result<EventRecord, DeliveryRecordDefect> {
            .failure(DeliveryRecordDefect(reason: .malformed, detail: detail))
        }
        guard let key = record.key, !key.isEmpty else { return malformed("event has no key (the tenant)") }
        guard let tenant = String(validating: key, as: UTF8.self), HeaderText.isPrintable(tenant) else {
            return malformed("the key (the tenant) must be at most 256 printable UTF-8 characters")
        }
        var event: String?, webhookID: String?, named: String?
        for header in record.headers where [RelayHeader.event, RelayHeader.id, RelayHeader.contentType, endpointsHeader].contains(header.key) {
            guard let value = header.stringValue else { return malformed("header '\(header.key)' is not valid UTF-8") }
            switch header.key {
            case RelayHeader.event: event = value
            case RelayHeader.id: webhookID = value
            case RelayHeader.contentType:
                // As a delivery's: a bad one is one dead letter here, not one per subscriber.
                guard HeaderText.isPrintable(value) else { return malformed("'\(RelayHeader.contentType)' must be at most 256 printable characters") }
            default: named = value
            }
        }
        guard let event, !event.isEmpty else { return malformed("no '\(RelayHeader.event)' header") }
        guard HeaderText.isPrintable(event) else { return malformed("'\(RelayHeader.event)' must be at most 256 printable characters") }
        let id = webhookID ?? DeliveryRecord.derivedID(DeliveryRecord.Origin(topic: record.topic, partition: record.partition, offset: record.offset))
        guard DeliveryRecord.isValidID(id) else {
            return malformed("'\(RelayHeader.id)' must be 1-256 printable ASCII characters without '.', ',' or spaces")
        }
        var endpoints: [String]?
        if let named {
            let ids = named.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard !ids.isEmpty, ids.allSatisfy({ !$0.isEmpty && HeaderText.isPrintable($0) }) else {
                return malformed("'\(endpointsHeader)' must be a comma-separated list of endpoint ids")
            }
            guard ids.count <= maxNamedEndpoints else { return malformed("'\(endpointsHeader)' names more than \(maxNamedEndpoints) endpoints") }
            endpoints = ids
        }
        guard record.value.count <= bodyLimit else {
            return .failure(DeliveryRecordDefect(reason: .payloadTooLarge, detail: "body is \(record.value.count) bytes, the limit is \(bodyLimit)"))
        }
        return .success(EventRecord(tenant: tenant, event: event, webhookID: id, endpoints: endpoints))
    }

}
