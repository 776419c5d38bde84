/// A pointer that may cross threads: the one audited exception to checked `Sendable` for raw memory in RecML and
/// RecDB (see "Concurrency" in the README), kept in this small module below both so that the engine does not
/// depend on the model runtimes.
///
/// A raw pointer is not `Sendable` because nothing in its type says who writes its memory when. This wrapper is
/// safe only under one of two disciplines, which every place that makes one states beside it:
/// - **read-only**: the memory is written before the pointer is shared (a read-only file map, weights converted at
///   load) and freed only by an owner that outlives every reader;
/// - **disjoint writes**: concurrent workers write disjoint elements, and the memory is read only after the owner
///   has joined them (`DispatchQueue.concurrentPerform` returns, a pool's task completes).
///
/// It adds no synchronisation and costs nothing: `base` is the pointer itself.
package struct SharedPointer<Pointee>: @unchecked Sendable {
    /// The pointer, used as it would be without the wrapper.
    package let base: UnsafeMutablePointer<Pointee>

    /// Wraps `base`, whose memory follows one of the two disciplines above.
    package init(_ base: UnsafeMutablePointer<Pointee>) { self.base = base }

    /// Wraps read-only memory (the first discipline).
    package init(readOnly base: UnsafePointer<Pointee>) { self.base = UnsafeMutablePointer(mutating: base) }
}
