import CRecSupport
import Foundation

/// A unique, short-named folder under the system temporary directory that exists only while `body` runs.
///
/// ```swift
/// try TemporaryDirectory.with { folder in
///     let env = try Environment.open(at: folder.path)
///     …
/// }
/// ```
///
/// `Environment.open` keeps one environment per path per process, so every test takes its own folder.
/// Let every environment opened inside go out of scope before `body` returns.
public struct TemporaryDirectory: Sendable {
    /// The folder's path.
    public let path: String

    /// The path of `name` inside the folder (not created).
    public func appending(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Creates a fresh folder, runs `body` with it and removes the folder afterwards, whether `body` throws or not.
    public static func with<R>(_ body: (TemporaryDirectory) throws -> R) throws -> R {
        _ = busErrorsNameTheirFile
        let name = "rdb-" + String(UInt64.random(in: .min ... .max), radix: 36)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(TemporaryDirectory(path: url.path))
    }

    /// Installs RecDB's bus-error handler in the test process once: a test that truncates a file another test still
    /// has mapped then fails naming that `data.mdb` (status 1), instead of a bare SIGBUS inside liblmdb.
    private static let busErrorsNameTheirFile: Void = { _ = recdb_fault_install_bus_handler() }()
}
