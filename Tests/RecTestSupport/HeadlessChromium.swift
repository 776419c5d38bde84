import Foundation

/// Debian's Chromium, headless, for tests that check what a person would see: the DOM after scripts ran, console
/// messages and load failures, and PNG screenshots. `bash scripts/setup` installs it.
public enum HeadlessChromium {
    /// The browser's path, or nil when it is not installed.
    public static let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The flags every run takes: headless, no sandbox (tests run as root), logs on standard error.
    public static let flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-extensions", "--enable-logging=stderr", "--v=0", "--allow-file-access-from-files",
    ]

    /// Loads `url` and returns its DOM once scripts ran, with the log lines that report console messages, uncaught
    /// errors or resources that failed to load (a page that works has none).
    public static func load(_ url: String) throws -> (dom: String, problems: [String]) {
        let run = try runTool(try browser(), flags + ["--dump-dom", url])
        let problems = run.stderr.split(separator: "\n").map(String.init).filter {
            $0.contains("CONSOLE") || $0.contains("Uncaught") || $0.contains("Failed to load")
                || $0.contains("Refused to")
        }
        return (run.stdout, problems)
    }

    /// Saves a PNG screenshot of `url` at `width` × `height` pixels to `file`; returns the browser's log.
    @discardableResult
    public static func screenshot(_ url: String, to file: String, width: Int = 1400, height: Int = 1600) throws -> String {
        try runTool(try browser(), flags + ["--screenshot=\(file)", "--window-size=\(width),\(height)", url]).stderr
    }

    private static func browser() throws -> String {
        guard let path else {
            throw CocoaError(
                .fileNoSuchFile,
                userInfo: [NSLocalizedDescriptionKey: "Chromium is needed: run `bash scripts/setup` (installs Debian's chromium)"])
        }
        return path
    }
}

/// Runs a program to its end, reading its output and error streams together (a full pipe never blocks it).
public func runTool(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}
