import Foundation

/// A point in time as whole milliseconds since the Unix epoch, UTC.
public struct Timestamp: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z; negative before it.
    public var milliseconds: Int64

    /// Creates a timestamp from milliseconds since the epoch.
    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    /// Creates a timestamp from seconds since the epoch, rounded to the nearest millisecond.
    public init(seconds: Double) { milliseconds = Int64((seconds * 1000).rounded()) }
    /// Creates a timestamp from a `Date`, rounded to the nearest millisecond.
    public init(_ date: Date) { self.init(seconds: date.timeIntervalSince1970) }

    /// Now, from the system clock, or the pinned time while one is set.
    public static var now: Timestamp { pinned ?? Timestamp(Date()) }

    /// A time that ``now`` returns instead of the clock's while set (`Timestamp.$pinned.withValue(t) { … }`): a
    /// replicated write runs at the time it was accepted, so every node that applies it stores the same bytes.
    @TaskLocal public static var pinned: Timestamp?

    /// The same instant as a Foundation `Date`.
    public var date: Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
    /// Seconds since the epoch, with the milliseconds as the fraction.
    public var seconds: Double { Double(milliseconds) / 1000 }

    /// Orders by time: earlier is smaller.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// ISO 8601 in UTC with milliseconds, e.g. `2026-11-26T10:00:00.000Z`.
    public var description: String {
        var seconds = milliseconds.quotientAndRemainder(dividingBy: 1000)
        if seconds.remainder < 0 { seconds = (seconds.quotient - 1, seconds.remainder + 1000) }
        var time = time_t(seconds.quotient)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(seconds.remainder))
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]` or the same with `T`, and an optional `Z` or `±HH:MM`.
    /// Times without a zone are taken as UTC. Returns nil for anything else.
    public init?(parsing text: some StringProtocol) {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ digits: Int) -> Int? {
            guard index + digits <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + digits] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            index += digits
            return value
        }
        func expect(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var hour = 0, minute = 0, second = 0, millis = 0, offsetMinutes = 0
        if index < bytes.count, bytes[index] == 84 || bytes[index] == 32 {  // 'T' or ' '
            index += 1
            guard let h = number(2), expect(58), let m = number(2), h < 24, m < 60 else { return nil }
            hour = h
            minute = m
            if expect(58) {
                guard let s = number(2), s <= 60 else { return nil }
                second = s
                if expect(46) {
                    var scale = 100
                    var digits = 0
                    while index < bytes.count, bytes[index] >= 48 && bytes[index] <= 57 {
                        if scale > 0 { millis += Int(bytes[index] - 48) * scale }
                        scale /= 10
                        index += 1
                        digits += 1
                    }
                    guard digits > 0 else { return nil }
                }
            }
            if expect(90) {  // 'Z'
            } else if index < bytes.count, bytes[index] == 43 || bytes[index] == 45 {
                let sign = bytes[index] == 45 ? -1 : 1
                index += 1
                guard let oh = number(2) else { return nil }
                _ = expect(58)
                guard let om = number(2) else { return nil }
                offsetMinutes = sign * (oh * 60 + om)
            }
        }
        guard index == bytes.count else { return nil }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        let total = ((days * 24 + hour) * 60 + minute - offsetMinutes) * 60 + second
        milliseconds = Int64(total) * 1000 + Int64(millis)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
