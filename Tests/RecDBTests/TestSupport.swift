// The shared test helpers (TemporaryDirectory, expectRecDBError, DeliberateFailure) for every suite in this target.
@_exported import RecTestSupport
