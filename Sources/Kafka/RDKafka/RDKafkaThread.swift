import Foundation

/// Dedicated threads for librdkafka's blocking calls and poll loops, which must never run on
/// Swift's cooperative thread pool.
enum RDKafkaThread {
    /// Starts `body` on a new thread with the given name.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }

    /// Runs a blocking `body` on a new thread and returns its result without blocking the caller.
    static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            start(name: name) { continuation.resume(returning: body()) }
        }
    }
}
