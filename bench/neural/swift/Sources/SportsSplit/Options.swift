import Foundation

/// `key=value` arguments after the mode and data path, with typed look-ups and defaults; unknown keys are errors.
public struct Options {
    private var values: [String: String] = [:]
    private var used: Set<String> = []

    public init(_ arguments: ArraySlice<String>) {
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { fail("expected key=value, got '\(argument)'") }
            values[String(parts[0])] = String(parts[1])
        }
    }

    public mutating func int(_ key: String, _ fallback: Int) -> Int {
        used.insert(key)
        guard let text = values[key] else { return fallback }
        guard let value = Int(text) else { fail("\(key)=\(text): not an integer") }
        return value
    }

    public mutating func float(_ key: String, _ fallback: Float) -> Float {
        used.insert(key)
        guard let text = values[key] else { return fallback }
        guard let value = Float(text) else { fail("\(key)=\(text): not a number") }
        return value
    }

    public mutating func string(_ key: String, _ fallback: String) -> String {
        used.insert(key)
        return values[key] ?? fallback
    }

    /// Fails on keys no look-up asked for (typos).
    public func checkAllUsed() {
        let unknown = Set(values.keys).subtracting(used)
        if !unknown.isEmpty { fail("unknown option(s): \(unknown.sorted().joined(separator: ", "))") }
    }
}

/// One JSON line on standard output (flushed), for the driver script.
public func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// A progress line on standard error.
public func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
