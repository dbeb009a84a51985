import ArgumentParser
import Foundation
import WebhookReceiver
import WebhookRelay

/// `ID:SPEC` of `listen --behaviour`, e.g. `orders:5xx=0.2,timeout=0.05,retry-after=2,gone-after=100`.
///
/// Keys: `5xx` (fraction answered `status`), `status` (the failure status, default 500),
/// `timeout` (fraction never answered), `hang` (how long such a request is held, default 30s),
/// `reset` (fraction whose connection is reset), `429` (fraction answered 429), `retry-after`
/// (its Retry-After, default 1), `slow` (fraction answered after `slow-delay`, default 500ms),
/// `delay` (wait before every answer), `fail-first` (fail the first N attempts of every id),
/// `gone-after` (answer 410 after N requests), `fail` (always fail, no value).
struct BehaviourSpec: CustomStringConvertible {
    /// The endpoint id, or `*` for every endpoint without a spec of its own.
    var endpointID: String
    var behaviour: ReceiverBehaviour
    var description: String

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// Parses a spec, failing as a command-line validation error.
    static func validated(_ text: String) throws -> BehaviourSpec {
        do {
            return try BehaviourSpec(parsing: text)
        } catch {
            throw ValidationError(error.description)
        }
    }

    init(parsing text: String) throws(Invalid) {
        description = text
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw Invalid(description: "--behaviour '\(text)': expected ID:KEY=VALUE,... (ID may be *)")
        }
        endpointID = String(text[..<colon])
        behaviour = ReceiverBehaviour()
        var total = 0.0
        for item in text[text.index(after: colon)...].split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            let value = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : nil
            func fraction() throws(Invalid) -> Double {
                guard let value, let number = Double(value), (0...1).contains(number) else {
                    throw Invalid(description: "--behaviour '\(text)': \(key) needs a fraction from 0 to 1, like \(key)=0.1")
                }
                total += number
                return number
            }
            func count() throws(Invalid) -> Int {
                guard let value, let number = Int(value), number >= 0 else {
                    throw Invalid(description: "--behaviour '\(text)': \(key) needs a whole number, like \(key)=3")
                }
                return number
            }
            func duration() throws(Invalid) -> Duration {
                guard let value, let duration = DurationText.parse(value) else {
                    throw Invalid(description: "--behaviour '\(text)': \(key) needs a duration, like \(key)=250ms")
                }
                return duration
            }
            switch key {
            case "5xx": behaviour.failureRate = try fraction()
            case "status":
                let status = try count()
                guard (200...599).contains(status) else {
                    throw Invalid(description: "--behaviour '\(text)': status must be an HTTP status from 200 to 599")
                }
                behaviour.failureStatus = status
            case "timeout": behaviour.timeoutRate = try fraction()
            case "hang": behaviour.hangDuration = try duration()
            case "reset": behaviour.resetRate = try fraction()
            case "429": behaviour.tooManyRequestsRate = try fraction()
            case "retry-after":
                guard let value, !value.isEmpty else {
                    throw Invalid(description: "--behaviour '\(text)': retry-after needs seconds or an HTTP date")
                }
                behaviour.tooManyRequestsRetryAfter = value
            case "slow": behaviour.slowRate = try fraction()
            case "slow-delay": behaviour.slowDelay = try duration()
            case "delay": behaviour.responseDelay = try duration()
            case "fail-first": behaviour.failFirstAttempts = try count()
            case "gone-after": behaviour.goneAfter = try count()
            case "fail": behaviour.alwaysFail = true
            default:
                throw Invalid(description: "--behaviour '\(text)': unknown key '\(key)' (5xx, status, timeout, hang, reset, 429, retry-after, slow, slow-delay, delay, fail-first, gone-after, fail)")
            }
        }
        guard total <= 1 else {
            throw Invalid(description: "--behaviour '\(text)': the fractions add up to \(total), more than 1")
        }
    }
}
