import Foundation
import Kafka

/// Something that happened to an endpoint or a message, published by the relay on
/// `<prefix>.operational` (docs/operational-events.md) in the shape of a Standard Webhooks
/// payload, and delivered as a signed webhook to the operator's endpoint when one is named.
public struct OperationalEvent: Sendable, Hashable {
    /// What happened.
    public enum Kind: String, Sendable, CaseIterable {
        case endpointCreated = "endpoint.created"
        case endpointUpdated = "endpoint.updated"
        case endpointDeleted = "endpoint.deleted"
        case endpointDisabled = "endpoint.disabled"
        case endpointEnabled = "endpoint.enabled"
        case circuitOpened = "endpoint.circuit_opened"
        case recovered = "endpoint.recovered"
        case attemptExhausted = "message.attempt.exhausted"
    }

    /// What happened.
    public var kind: Kind
    /// The endpoint it is about (the record key).
    public var endpointID: String
    /// When, epoch milliseconds.
    public var at: Int64
    /// Details, by name: strings and integers only (no secret is ever among them).
    public var data: [String: Detail]

    /// A detail's value.
    public enum Detail: Sendable, Hashable {
        case text(String)
        case number(Int64)
    }

    /// Creates an event.
    public init(_ kind: Kind, endpointID: String, at: Int64, data: [String: Detail] = [:]) {
        self.kind = kind
        self.endpointID = endpointID
        self.at = at
        self.data = data
    }

    /// A stable message id for the event: the same event (kind, endpoint, time, details) always
    /// gets the same id, so a receiver can deduplicate a repeated one.
    public var webhookID: String {
        let text = "\(kind.rawValue)\u{0}\(endpointID)\u{0}\(at)\u{0}" + data.keys.sorted().map { "\($0)=\(data[$0].map(String.init(describing:)) ?? "")" }.joined(separator: "\u{0}")
        return "op_" + HeaderText.fingerprint(text)
    }

    /// The JSON body: `{"type":…,"timestamp":"…Z","data":{"endpoint_id":…,…}}`.
    public var body: [UInt8] {
        var details: [String: Any] = ["endpoint_id": endpointID]
        for (name, value) in data {
            switch value {
            case .text(let text): details[name] = text
            case .number(let number): details[name] = number
            }
        }
        let object: [String: Any] = ["type": kind.rawValue, "timestamp": Self.timestamp(at), "data": details]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map(Array.init) ?? []
    }

    /// The record on the operational topic: key = endpoint id, `webhook-event`, `webhook-id`.
    public func record(topic: String) -> KafkaProducerRecord {
        KafkaProducerRecord(topic: topic, key: Array(endpointID.utf8), value: body, headers: [
            KafkaHeader(key: RelayHeader.event, value: kind.rawValue),
            KafkaHeader(key: RelayHeader.id, value: webhookID),
            KafkaHeader(key: RelayHeader.contentType, value: "application/json"),
        ])
    }

    /// RFC 3339 with milliseconds, UTC.
    static func timestamp(_ milliseconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(milliseconds) / 1_000)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let millis = Int(((milliseconds % 1_000) + 1_000) % 1_000)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0,
            parts.minute ?? 0, parts.second ?? 0, millis
        )
    }
}

extension OperationalEvent.Detail: CustomStringConvertible {
    public var description: String {
        switch self {
        case .text(let text): text
        case .number(let number): String(number)
        }
    }
}
