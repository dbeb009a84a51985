import DequeModule
import Synchronization

/// Hands work items from the consumer loop to long-lived worker tasks.
///
/// One child task per record made the task group itself the hot spot: the Swift runtime removes a
/// finished child from its group by walking the group's list of children, so with thousands of
/// records in flight every completion cost a walk over thousands of tasks (13 % of the relay's CPU
/// at full speed, by `perf`). Workers instead live as long as the pool, and a record costs one lock
/// and one continuation resume. The owner starts ``workers`` tasks that call ``next()`` in a loop
/// (any code may then submit items); an idle worker waits in a last-in-first-out stack, so the
/// most recently active (cache-warm) one is reused.
///
/// The caller bounds how many items are outstanding (the pipeline's in-flight semaphore); the
/// queues themselves are unbounded.
final class WorkerPool<Item: Sendable>: Sendable {
    private struct State {
        var queued = Deque<Item>()
        /// Items given back by ``resume(_:)``, served before `queued`.
        var resumed = Deque<Item>()
        var idle: [CheckedContinuation<Item?, Never>] = []
        var closed = false
    }

    /// How many worker tasks the owner starts.
    let workers: Int
    private let state = Mutex(State())

    init(workers: Int) {
        self.workers = max(1, workers)
    }

    /// Gives an item to an idle worker, or queues it.
    func submit(_ item: Item) {
        let worker = state.withLock { state -> CheckedContinuation<Item?, Never>? in
            if let worker = state.idle.popLast() { return worker }
            state.queued.append(item)
            return nil
        }
        worker?.resume(returning: item)
    }

    /// Gives an item to an idle worker, or queues it ahead of submitted items (items coming back,
    /// which have waited already).
    func resume(_ item: Item) {
        let worker = state.withLock { state -> CheckedContinuation<Item?, Never>? in
            if let worker = state.idle.popLast() { return worker }
            state.resumed.append(item)
            return nil
        }
        worker?.resume(returning: item)
    }

    /// The next item for a worker; `nil` once the pool is closed and nothing is queued.
    func next() async -> Item? {
        if let item = state.withLock({ Self.dequeue(&$0) }) { return item }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Item?, Never>) in
            // Resumes at once with the next item or `nil` when closed; otherwise parks the worker.
            let answer = state.withLock { state -> Item?? in
                if let item = Self.dequeue(&state) { return .some(item) }
                if state.closed { return .some(nil) }
                state.idle.append(continuation)
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    /// Workers waiting for an item.
    var idleWorkers: Int { state.withLock { $0.idle.count } }

    /// No more items: idle workers end, busy ones end after the queue is empty.
    func close() {
        let idle = state.withLock { state -> [CheckedContinuation<Item?, Never>] in
            state.closed = true
            defer { state.idle = [] }
            return state.idle
        }
        for worker in idle { worker.resume(returning: nil) }
    }

    private static func dequeue(_ state: inout State) -> Item? {
        state.resumed.popFirst() ?? state.queued.popFirst()
    }
}
