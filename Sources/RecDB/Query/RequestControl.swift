import CRecSupport
import Foundation
import Synchronization

/// The deadline and cancellation of one request: long loops of the engine check it, so a request stops soon after
/// its deadline passes or its client goes away, and answers `timeout` or `cancelled` instead of running on.
///
/// ```swift
/// let control = RequestControl(timeout: .seconds(5))
/// connection.onClose { control.cancel() }
/// let answer = try db.execute(statement, control: control)   // throws .timeout / .cancelled when stopped
/// ```
///
/// While ``run(_:)`` runs its body, the control is the thread's ``current`` one, which is how loops deep in the
/// engine (candidate generation, filter evaluation, language-model decoding, training) find it.
public final class RequestControl: Sendable {
    /// When the request must stop, in `DispatchTime` nanoseconds; nil for none.
    public let deadline: UInt64?
    /// How long the request was given, for the message of a timeout.
    private let budget: Duration?
    private let cancelled = Atomic<Bool>(false)

    /// A control whose deadline is `timeout` from now (none when nil).
    public init(timeout: Duration? = nil) {
        budget = timeout
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            let nanoseconds = max(0, seconds) * 1_000_000_000 + attoseconds / 1_000_000_000
            deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(nanoseconds)
        } else {
            deadline = nil
        }
    }

    /// Stops the request at its next check (its client went away, or the server is shutting down).
    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Whether ``cancel()`` was called.
    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Whether the request should stop now: cancelled or past its deadline.
    public var shouldStop: Bool {
        if isCancelled { return true }
        guard let deadline else { return false }
        return DispatchTime.now().uptimeNanoseconds >= deadline
    }

    /// Throws ``RecDBError/Code/cancelled`` or ``RecDBError/Code/timeout`` when the request should stop.
    public func check() throws {
        if isCancelled { throw RecDBError(.cancelled, "the request was cancelled") }
        if let deadline, DispatchTime.now().uptimeNanoseconds >= deadline {
            let limit = budget.map { budget -> String in
                let (seconds, attoseconds) = budget.components
                let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
                return milliseconds % 1000 == 0 ? " of \(milliseconds / 1000) s" : " of \(milliseconds) ms"
            } ?? ""
            throw RecDBError(.timeout, "the request ran past its deadline\(limit) and was stopped")
        }
    }

    /// Runs `body` with this control as the thread's current one (restoring the previous one after).
    public func run<R>(_ body: () throws -> R) throws -> R {
        try check()
        let previous = recdb_current_request()
        recdb_set_current_request(Unmanaged.passUnretained(self).toOpaque())
        defer { recdb_set_current_request(previous) }
        return try body()
    }

    /// The control of the request this thread is running, if any.
    public static var current: RequestControl? {
        guard let pointer = recdb_current_request() else { return nil }
        return Unmanaged<RequestControl>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Checks the current request, if any: call it in loops that may run long.
    @inline(__always)
    public static func checkCurrent() throws {
        guard let pointer = recdb_current_request() else { return }
        try Unmanaged<RequestControl>.fromOpaque(pointer).takeUnretainedValue().check()
    }

    /// Runs `body`, which stops early (by any error) once ``currentShouldStop`` turns true, and reports that stop
    /// as the current request's `timeout` or `cancelled` rather than as the body's own error.
    public static func stoppingCurrent<R>(_ body: () throws -> R) throws -> R {
        do {
            let result = try body()
            try checkCurrent()
            return result
        } catch {
            try checkCurrent()
            throw error
        }
    }

    /// Whether the current request (if any) should stop: for loops that cannot throw (they stop early, and the
    /// caller throws with ``checkCurrent()`` afterwards).
    @inline(__always)
    public static var currentShouldStop: Bool {
        guard let pointer = recdb_current_request() else { return false }
        return Unmanaged<RequestControl>.fromOpaque(pointer).takeUnretainedValue().shouldStop
    }
}
