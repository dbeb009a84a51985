/// What ``DeliveryExecutor`` does next for a record, as ``DeliveryStateMachine`` decided it. Each
/// action names the event that follows it.
enum DeliveryAction: Sendable, Equatable {
    /// Hold the record until it is due; its partition's fetching pauses meanwhile. Then
    /// ``DeliveryStateMachine/dueTimeReached()``.
    case waitUntilDue(DueTime)
    /// Look up the endpoint with this id; then ``DeliveryStateMachine/endpointFound(_:now:)``.
    case findEndpoint(String)
    /// Ask the endpoint for admission; then ``DeliveryStateMachine/admitted(_:now:)``, unless it
    /// parks the record (``DeliveryStateMachine/parked()``; ``DeliveryStateMachine/resumed()`` follows).
    case enter(reserved: Bool, waited: Bool)
    /// Make HTTP attempt number `number`; then ``DeliveryStateMachine/attempted(_:startedAt:now:random:)``.
    case attempt(EndpointAdmission.Admission, number: Int)
    /// Tell the endpoint how its admitted attempt ended; then ``DeliveryStateMachine/reported()``.
    case report(EndpointAdmission.Admission, AttemptReport)
    /// Wait this long; then ``DeliveryStateMachine/timerFired(now:)``.
    case wait(Duration)
    /// Write a record to Kafka; then ``DeliveryStateMachine/written(_:now:)``. (Indirect: a hop is
    /// rare, and it keeps every other action — and each record in flight — small.)
    indirect case write(Write)
    /// The record is finished: its offset may be stored. Count what became of it.
    case finish(Tally)
    /// Leave the record unfinished to the partition's next owner. Count what became of it.
    case abandon(Tally)

    /// What an endpoint hears about an attempt it admitted.
    enum AttemptReport: Sendable, Equatable {
        /// The endpoint's result: its circuit, health and pace learn from it. A `410` disables
        /// the endpoint with `goneReason`. `error` is the attempt's error text, `at` its end
        /// (wall-clock epoch milliseconds), for the endpoint's status. `keepsTurn`: an ordered
        /// endpoint's failed attempt that will be made again in place, holding the later ones.
        case result(success: Bool, status: Int?, error: String?, at: Int64, goneReason: String, keepsTurn: Bool = false)
        /// The attempt was not made, or the relay cut it short: not a result.
        case notMade
    }

    /// What to count when a record is settled.
    enum Tally: Sendable, Equatable {
        /// Nothing (counted elsewhere, or nothing happened).
        case none
        case delivered
        /// Its endpoint does not subscribe to its event.
        case skipped
        /// Forwarded to the delay topic of this delay after a failed attempt.
        case retried(tier: Duration)
        /// Forwarded to a delay topic without an attempt (circuit open, endpoint busy).
        case postponed
        case deadLettered(DeadLetterReason)
        /// Not even its dead letter without the body could be written: let go, loudly.
        case dropped(DeadLetterReason)
        /// Its attempt was cut short by the relay.
        case cutShort
    }

    /// A record the relay writes: a hop to a delay topic or a dead letter.
    struct Write: Sendable, Equatable {
        enum Purpose: Sendable, Equatable {
            /// Wait on the delay topic of `tier` for the next attempt: after a failed attempt
            /// (counted as retried), or without using one (postponed).
            case hop(tier: Duration, afterFailure: Bool)
            /// End on the dead-letter topic.
            case deadLetter(DeadLetterReason)
        }

        /// Why a dead letter is written, when it is not the delivery's own failure (for the log).
        enum Cause: Sendable, Equatable {
            /// The record breaks the contract.
            case invalidRecord(DeliveryRecordDefect)
            /// Its key names no configured endpoint.
            case unknownEndpoint
            /// The delay topic refused the hop (Kafka's error name).
            case delayTopicRefused(topic: String, error: String)
            /// The DLQ refused the dead letter with its body (Kafka's error name).
            case deadLetterRefused(error: String)
        }

        var purpose: Purpose
        var topic: String
        /// The relay's state, written as its `relay-*` headers.
        var state: HopState
        /// The `webhook-id` to add when the record has none (derived ids travel with the hops).
        var webhookID: String?
        /// Written without the body: the contract's headers and the relay's only.
        var withoutBody = false
        var cause: Cause?
    }
}

/// How writing a hop or dead letter ended.
enum WriteOutcome: Sendable, Equatable {
    /// The broker acknowledged it.
    case written
    /// The partition is no longer this replica's; nothing was written.
    case notOwned
    /// The record itself was refused (too large, invalid): writing it again cannot work. Kafka's
    /// error name.
    case refused(String)
}
