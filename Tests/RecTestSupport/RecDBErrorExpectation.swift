import RecWire
import Testing

/// Expects `body` to throw a ``RecDBError`` with `code`; records an issue at the caller otherwise.
public func expectRecDBError(
    _ code: RecDBError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    let error = #expect(throws: RecDBError.self, sourceLocation: sourceLocation) { try body() }
    if let error {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    }
}

/// An error that tests throw on purpose.
public struct DeliberateFailure: Error {
    /// A failure to throw.
    public init() {}
}
