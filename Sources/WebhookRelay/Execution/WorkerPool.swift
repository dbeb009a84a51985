import DequeModule
import Synchronization

/// Hands work items from the consumer loop to long-lived worker tasks.
///
/// One child task per record made the task group itself the hot spot: the Swift runtime removes a
/// finished child from its group by walking the group's list of children, so with thousands of
/// records in flight every completion cost a walk over thousands of tasks (13 % of the relay's CPU
/// at full speed, by `perf`). Workers instead live as long as the pool. The owner starts
/// ``workers`` tasks that call ``next()`` in a loop (any code may then submit items); an idle
/// worker waits in a last-in-first-out stack, so the most recently active (cache-warm) one is
/// woken first.
///
/// Items may be non-copyable (records in flight): they stay in the pool's queues until a worker
/// takes one; a woken worker takes the oldest item, not necessarily the one that woke it. The
/// caller bounds how many items are outstanding; the queues themselves are unbounded.
final class WorkerPool<Item: ~Copyable & Sendable>: Sendable {
    private struct State: ~Copyable {
        var queued = UniqueDeque<Item>()
        /// Items given back by ``resume(_:)``, served before `queued`.
        var resumed = UniqueDeque<Item>()
        var idle: [CheckedContinuation<Void, Never>] = []
        /// Tasks waiting for a worker with nothing to do (``waitForIdleWorker()``).
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var closed = false

        mutating func dequeue() -> Item? {
            resumed.popFirst() ?? queued.popFirst()
        }

        var hasWork: Bool { !resumed.isEmpty || !queued.isEmpty }
    }

    /// How many worker tasks the owner starts.
    let workers: Int
    private let state = Mutex(State())

    init(workers: Int) {
        self.workers = max(1, workers)
    }

    /// Queues an item and wakes an idle worker.
    func submit(_ item: consuming Item) {
        add(item, first: false)
    }

    /// Queues an item ahead of submitted ones (items coming back, which have waited already) and
    /// wakes an idle worker.
    func resume(_ item: consuming Item) {
        add(item, first: true)
    }

    private func add(_ item: consuming Item, first: Bool) {
        var carried: Item? = consume item
        let worker = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let item = carried.take() else { return nil }
            if first { state.resumed.append(item) } else { state.queued.append(item) }
            return state.idle.popLast()
        }
        worker?.resume()
    }

    /// The next item for a worker; `nil` once the pool is closed and nothing is queued.
    func next() async -> Item? {
        while true {
            let item = state.withLock { state in state.dequeue() }
            if let item { return item }
            if state.withLock({ $0.closed }) { return nil }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let (now, waiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
                    if state.hasWork || state.closed { return (true, []) }
                    state.idle.append(continuation)
                    defer { state.idleWaiters.removeAll() }
                    return (false, state.idleWaiters)
                }
                if now { continuation.resume() }
                for waiter in waiters { waiter.resume() }
            }
        }
    }

    /// Workers waiting for an item.
    var idleWorkers: Int { state.withLock { $0.idle.count } }

    /// Whether items wait for a worker.
    var hasQueued: Bool { state.withLock { $0.hasWork } }

    /// Waits until a worker waits for an item that no queued item has woken yet (or the pool is
    /// closed): for a feeder that should hand out work only to workers that have none. (Each
    /// item queued takes a worker out of the idle ones as it wakes it.)
    func waitForIdleWorker() async {
        let ready = state.withLock { state in !state.idle.isEmpty || state.closed }
        if ready { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if !state.idle.isEmpty || state.closed { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// No more items: idle workers end, busy ones end after the queues are empty.
    func close() {
        let idle = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            defer {
                state.idle = []
                state.idleWaiters = []
            }
            return state.idle + state.idleWaiters
        }
        for worker in idle { worker.resume() }
    }
}
