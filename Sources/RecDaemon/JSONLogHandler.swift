import Foundation
import Logging
import RecDB
import Synchronization

/// `recd --log-format json`: one JSON object per line on standard error, for log shippers (journald with
/// `SyslogIdentifier`, Vector, Loki, …): `time` (ISO 8601, UTC, milliseconds), `level`, `label`, `message`, `source`,
/// `file`, `line`, and the metadata's keys as members of their own (`error` when an error was attached).
///
/// ```
/// {"label":"recd","level":"info","message":"serving /srv/shop on /srv/shop/recd.sock","source":"RecDaemon",…}
/// ```
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// One line written at a time, whichever thread logs.
    private static let output = Mutex(FileHandle.standardError)

    init(label: String, level: Logger.Level) {
        self.label = label
        logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var members: [String: QueryValue] = merged.mapValues(Self.value)
        members["time"] = .string(Self.timestamp())
        members["level"] = .string(event.level.rawValue)
        members["label"] = .string(label)
        members["message"] = .string(event.message.description)
        members["source"] = .string(event.source)
        members["file"] = .string(event.file)
        members["line"] = .number(Double(event.line))
        if let error = event.error { members["error"] = .string("\(error)") }
        let line = Data((QueryValue.object(members).jsonText + "\n").utf8)
        Self.output.withLock { $0.write(line) }
    }

    /// A metadata value as JSON: strings as strings, lists as arrays, dictionaries as objects.
    static func value(_ metadata: Logger.MetadataValue) -> QueryValue {
        switch metadata {
        case .string(let text): .string(text)
        case .stringConvertible(let value): .string(value.description)
        case .array(let values): .array(values.map(value))
        case .dictionary(let members): .object(members.mapValues(value))
        }
    }

    /// Now, as `2026-12-06T23:41:07.123Z`.
    static func timestamp() -> String {
        Date.now.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
