import CRdKafka

/// Owns an `rd_kafka_t` and the retained context its callbacks use.
///
/// `@unchecked Sendable`: librdkafka documents its handle as thread-safe; this class only hands
/// the pointer to librdkafka functions and destroys it once.
final class RDKafkaClient: @unchecked Sendable {
    let handle: OpaquePointer
    private let opaque: UnsafeMutableRawPointer

    init(handle: OpaquePointer, opaque: UnsafeMutableRawPointer) {
        self.handle = handle
        self.opaque = opaque
    }

    /// Destroys the handle (blocking) and then releases the callback context. Call exactly once,
    /// from a dedicated thread, after the last use of the handle.
    func destroy(flags: Int32 = 0) {
        rd_kafka_destroy_flags(handle, flags)
        RDKafkaClientContext.release(opaque)
    }
}
