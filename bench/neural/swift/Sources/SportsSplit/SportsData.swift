import Foundation

/// The standard leave-last-out split of per-user item sequences: per user, the last item is the test target, the
/// second-last the validation target, the rest training.
public struct SequenceSplit {
    /// Items 1...itemCount.
    public let itemCount: Int
    /// Per user, the training part (every item but the last two), oldest first.
    public let training: [[Int32]]
    /// Per user, the validation target (second-last item).
    public let validation: [Int32]
    /// Per user, the test target (last item).
    public let test: [Int32]

    /// Reads "user item item …" lines (1-based item ids, time order) from `path`; keeps the first `userLimit` users
    /// with at least 3 items (all when nil). Exits with a message naming the line on bad input.
    public init(path: String, userLimit: Int?) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
        var training: [[Int32]] = [], validation: [Int32] = [], test: [Int32] = []
        var itemCount = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if let userLimit, training.count >= userLimit { break }
            let fields = line.split(separator: " ")
            let items = fields.dropFirst().map { field -> Int32 in
                guard let item = Int32(field), item > 0 else { fail("\(path):\(number + 1): bad item id '\(field)'") }
                return item
            }
            guard items.count >= 3 else { continue }
            itemCount = max(itemCount, Int(items.max()!))
            training.append(Array(items.dropLast(2)))
            validation.append(items[items.count - 2])
            test.append(items[items.count - 1])
        }
        guard !training.isEmpty else { fail("\(path): no user with 3 or more items") }
        self.itemCount = itemCount
        self.training = training
        self.validation = validation
        self.test = test
    }

    /// Users in the split.
    public var userCount: Int { training.count }

    /// The history read for `target`: the training part for validation, training + validation item for test.
    public func history(_ user: Int, for target: Target) -> ArraySlice<Int32> {
        target == .validation ? training[user][...] : (training[user] + [validation[user]])[...]
    }

    /// The held-out item for `target`.
    public func targetItem(_ user: Int, _ target: Target) -> Int32 {
        target == .validation ? validation[user] : test[user]
    }

    /// Which held-out item is scored.
    public enum Target: String { case validation, test }
}

/// Prints `message` to standard error and exits with status 2.
public func fail(_ message: String) -> Never {
    let program = CommandLine.arguments[0].split(separator: "/").last ?? ""
    FileHandle.standardError.write(Data("\(program): \(message)\n".utf8))
    exit(2)
}
