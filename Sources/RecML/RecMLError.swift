/// The error type of RecML's model runtimes: what failed, and where (a file path, a tensor name, a byte offset).
public struct RecMLError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. A struct over a private enum so that codes can grow.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case missingModel, corruptModel, unsupported, invalidArgument, io, interrupted
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A model file or folder is not installed.
        public static let missingModel = Code(.missingModel)
        /// A model file is truncated or does not follow its format.
        public static let corruptModel = Code(.corruptModel)
        /// The file uses a feature (a tensor type, an architecture) this runtime does not implement.
        public static let unsupported = Code(.unsupported)
        /// An argument is out of range.
        public static let invalidArgument = Code(.invalidArgument)
        /// Reading a file failed.
        public static let io = Code(.io)
        /// The caller's stop condition ended the work early (a deadline passed, a client left).
        public static let interrupted = Code(.interrupted)

        /// The code in snake case: `missing_model`, `corrupt_model`, `unsupported`, `invalid_argument`, `io`,
        /// `interrupted`.
        public var description: String {
            switch base {
            case .missingModel: return "missing_model"
            case .corruptModel: return "corrupt_model"
            case .invalidArgument: return "invalid_argument"
            default: return base.rawValue
            }
        }
    }

    /// What kind of failure this is; switch on it rather than on the message.
    public var code: Code
    /// What went wrong, for people; not meant to be parsed.
    public var message: String
    /// Where the failure happened: a file path, optionally with a tensor name or byte offset.
    public var location: String?

    /// Creates an error with an optional location.
    public init(_ code: Code, _ message: String, location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    /// "location: message", or the message alone without a location.
    public var description: String {
        location.map { "\($0): \(message)" } ?? message
    }
}
