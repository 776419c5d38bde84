import NIOCore
import NIOPosix

/// The light reads one event loop runs inline, served oldest first.
///
/// An event loop reads its ready connections in the order epoll lists them, and a level-triggered epoll keeps that
/// order from one wake-up to the next: a connection whose request arrived just after the loop collected its batch
/// is missed once and then served *last* in the next batch, so under a closed loop it waits almost two batches while
/// everyone else waits one (that was the saturated p99: about twice the p50, in isolated requests, see the README's
/// daemon benchmark). Here the reads a loop collects in one wake-up are not run as they are read but after the
/// loop's I/O, sorted by how long each connection has been waiting: since its last answer went out (or since it
/// connected), or since the read for a request pipelined behind others. The order within one connection is kept.
final class InlineReadQueue {
    private struct Pending {
        /// When the connection began waiting for this request (uptime nanoseconds).
        var waitingSince: UInt64
        /// Arrival order, which breaks ties and keeps one connection's requests in order.
        var order: Int
        var run: () -> Void
    }

    private let eventLoop: EventLoop
    private var pending: [Pending] = []
    private var drainScheduled = false
    private var arrivals = 0

    private init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    /// One queue per event loop thread, each touched only by its loop.
    private static let perLoop = ThreadSpecificVariable<NIOLoopBoundBox<InlineReadQueue>>()

    /// The queue of the event loop this is called on (created on first use).
    static func current(on eventLoop: EventLoop) -> InlineReadQueue {
        if let box = perLoop.currentValue { return box.value }
        let queue = InlineReadQueue(eventLoop: eventLoop)
        perLoop.currentValue = NIOLoopBoundBox(queue, eventLoop: eventLoop)
        return queue
    }

    /// Runs `work` on this loop after the I/O of the current wake-up, in order of `waitingSince`.
    func enqueue(waitingSince: UInt64, _ work: @escaping () -> Void) {
        pending.append(Pending(waitingSince: waitingSince, order: arrivals, run: work))
        arrivals &+= 1
        guard !drainScheduled else { return }
        drainScheduled = true
        let queue = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute { queue.value.drain() }
    }

    private func drain() {
        drainScheduled = false
        var batch = pending
        pending.removeAll(keepingCapacity: true)
        if batch.count > 1 {
            batch.sort { ($0.waitingSince, $0.order) < ($1.waitingSince, $1.order) }
        }
        for item in batch { item.run() }
    }
}
