import Foundation

/// Interaction sequences, one user per line: `user item item …` in time order, separated by spaces or tabs (the
/// S3-Rec / SASRec files such as `Sports_and_Outdoors.txt`, plain or gzip). Users and items are created; every
/// item becomes an event of one type (`purchase` unless ``init(path:eventType:)`` says otherwise).
///
/// The files carry no times, so each user's events are stamped one second apart from 2018-01-01T00:00:00Z in line
/// order: the first item at +0 s, the n-th at +(n−1) s. A user's events therefore keep their order and no two share
/// a time, so RecDB's leave-last-out split holds out exactly what the standard protocol does (the last item is the
/// test target, the second-last the validation target). Times across users mean nothing: use leave-last-out, not
/// temporal splits. A user named on a second line continues after the first line's last second. A user's whole
/// sequence falls inside the 30-minute session gap unless it holds more than 1,800 items.
///
/// A line with a user and no item is malformed (`file:line`); blank lines are skipped.
public struct SequenceFormat: ImportFormat {
    /// `sequences`: the name `recctl import` and ``ImportFormats`` know the format by (alias `s3rec`).
    public let name = "sequences"
    /// The sequence file (plain or gzip).
    public let path: String
    /// The event type every item becomes.
    public let eventType: String
    /// The name and the event type: a re-run with another type imports the file again.
    public var signature: String { "\(name) type=\(eventType)" }

    /// The first event time of every user.
    static let baseTime = Timestamp(parsing: "2018-01-01T00:00:00Z")!

    /// Takes the file, or a folder holding one `*.txt` (plain or gzip). Throws `notFound` when there is none.
    public init(path: String, eventType: String = "purchase") throws {
        self.path = try DatasetFiles.file(at: path, what: "*.txt sequence file") {
            DatasetFiles.find(in: $0, suffixes: [".txt"])
        }
        self.eventType = eventType
    }

    /// Reads one user per line; a line that is not valid UTF-8 or names no item is rejected alone.
    public func read(into sink: ImportSink) throws {
        let reader = try sink.openLines(path)
        // Per user, the events stamped so far: a user on a later line continues where the earlier line ended.
        var stamped: [String: Int64] = [:]
        try sink.forEachLine(of: reader) { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            try sink.parseRow(at: reader.location) {
                guard fields.count >= 2 else {
                    throw FieldParsing.Invalid(
                        message: "user '\(fields[0].prefix(40))' has no items (expected 'user item item …')")
                }
                let user = String(fields[0])
                let first = stamped[user] ?? 0
                stamped[user] = first + Int64(fields.count - 1)
                return fields.dropFirst().enumerated().map { position, item in
                    .event(
                        EventInput(
                            user: user, item: String(item), type: eventType,
                            timestamp: Timestamp(
                                milliseconds: Self.baseTime.milliseconds + (first + Int64(position)) * 1000)))
                }
            }
        }
    }
}
