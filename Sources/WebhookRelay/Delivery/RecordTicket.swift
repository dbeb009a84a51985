/// A record's claim on its partition's progress, settled exactly once: ``finish()`` (its offset
/// may be stored) or ``abandon()`` (left to the partition's next owner).
///
/// Non-copyable, so no path can settle a record twice: settling consumes the ticket, and using it
/// afterwards does not compile. A ticket dropped without being settled abandons itself in its
/// `deinit` (the next owner repeats the record; nothing is skipped) and, while its partition is
/// still owned, is counted in ``OffsetLedger/unsettledTickets`` — a defect the tests look for,
/// never a lost record.
struct RecordTicket: ~Copyable, Sendable {
    /// The assignment of the partition the record was read in (unique per assignment).
    let generation: UInt64
    let offset: Int64
    /// Retained by the ticket until it is settled; trivially destroyed, so that settling can
    /// end the ticket without running its `deinit`.
    private let ledger: Unmanaged<OffsetLedger>

    init(generation: UInt64, offset: Int64, ledger: OffsetLedger) {
        self.generation = generation
        self.offset = offset
        self.ledger = .passRetained(ledger)
    }

    /// The record is done: its partition's "done up to" may move past it.
    consuming func finish() {
        ledger.takeRetainedValue().finish(generation: generation, offset: offset)
        discard self
    }

    /// The record is left unfinished: the partition's progress stops before it.
    consuming func abandon() {
        ledger.takeRetainedValue().abandon(generation: generation, offset: offset)
        discard self
    }

    /// Whether the record's partition is still owned in the ticket's assignment and not being
    /// let go: work that has not started yet should start only then.
    var isCurrent: Bool { ledger.takeUnretainedValue().isCurrent(generation: generation) }

    /// Whether the ticket's assignment still holds (being let go or not): a result can still be stored.
    var isOwned: Bool { ledger.takeUnretainedValue().isOwned(generation: generation) }

    deinit {
        let ledger = ledger.takeRetainedValue()
        // Once its partition is gone (records still queued when the relay stops), nothing is lost
        // by dropping a ticket; while it is owned, dropping one is a defect worth counting.
        if ledger.isOwned(generation: generation) { ledger.noteUnsettled() }
        ledger.abandon(generation: generation, offset: offset)
    }
}
