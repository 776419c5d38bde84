// What an app needs besides the engine itself comes with `import RecDB`: the storage core (Environment, typed
// databases, transactions, byte codecs) and the shared vocabulary (RecDBError, QueryValue).
@_exported import RecStorage
@_exported import RecWire
// The token a guided decoder appends (`GuidedToken`), shared with the language-model runtime.
@_exported import RecKernels
