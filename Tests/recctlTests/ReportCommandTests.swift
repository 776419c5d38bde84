import Foundation
import RecTestSupport
import Testing

/// `recctl report paper --quick` on a small MovieLens-layout set: the three files, then the HTML page rendered by a
/// real headless Chromium with no console errors, every chart drawn, and a PNG screenshot.
@Suite("recctl report paper")
struct ReportCommandTests {
    /// 40 users in four taste groups, 12 ratings each over 24 movies, in RecBole's atomic layout.
    static func importedDatabase(in folder: TemporaryDirectory) throws -> String {
        var items = "item_id:token\tmovie_title:token_seq\n"
        for movie in 1...24 { items += "\(movie)\tMovie number \(movie)\n" }
        try folder.write("ml-report/ml-report.item", items)
        var ratings = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        for user in 1...40 {
            for n in 0..<12 {
                let movie = (user % 4) * 6 + (n * 5 + user) % 6 + 1 + (n % 4 == 3 ? 6 : 0)
                ratings += "\(user)\t\((movie - 1) % 24 + 1)\t4\t\(880_000_000 + n * 1000 + user * 10)\n"
            }
        }
        try folder.write("ml-report/ml-report.inter", ratings)
        let db = folder.appending("db")
        try RecCtl.succeed("init", "--db", db)
        try RecCtl.succeed("import", "movielens", folder.appending("ml-report"), "--db", db)
        return db
    }

    @Test func quickReportWritesTheFilesAndRendersInHeadlessChromium() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.importedDatabase(in: folder)
            let out = folder.appending("report")
            let run = try RecCtl.succeed(
                "report", "paper", "--data", db, "--name", "tiny-shop", "--out", out, "--quick", "--json", "--threads", "1",
                "--models", "popularity,itemknn,als,irgan", "--hybrid-parts", "als,itemknn,popularity")
            let summary = run.json
            #expect(summary["ndcg10_hygenrec"] is Double, "\(run)")
            #expect(summary["ndcg10_best_single"] is Double, "\(run)")
            for file in ["report.html", "report.md", "report.json"] {
                #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
            }
            let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
            #expect(html.contains("<title>Paper report: tiny-shop</title>"), "the --name is the report's title")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json")))
            let notes = (json as? [String: Any])?["notes"] as? [String] ?? []
            #expect(notes.contains { $0.hasPrefix("irgan: skipped") } || summary["ndcg10_irgan"] is Double, "\(notes)")
            try Self.render(out + "/report.html", screenshot: out + "/report.png")
        }
    }

    @Test func badDataFolderIsAClearError() throws {
        try TemporaryDirectory.with { folder in
            try folder.write("empty/readme.md", "nothing here")
            let message = try RecCtl.fail(
                "report", "paper", "--data", folder.appending("empty"), "--out", folder.appending("o"))
            #expect(message.contains("neither a RecDB database"), "\(message)")
        }
    }

    /// Renders `page` in headless Chromium: fails on console messages or errors in its log, on a DOM without the
    /// page's charts, or without a screenshot.
    static func render(_ page: String, screenshot: String) throws {
        try #require(HeadlessChromium.path != nil, "Chromium is needed to check the report page: run `bash scripts/setup`")
        let url = URL(fileURLWithPath: page).absoluteString
        let (dom, problems) = try HeadlessChromium.load(url)
        #expect(problems.isEmpty, "console: \(problems)")
        let source = try String(contentsOfFile: page, encoding: .utf8)
        let expectedCharts = source.components(separatedBy: "<svg ").count - 1
        #expect(expectedCharts >= 10)
        #expect(dom.components(separatedBy: "<svg ").count - 1 == expectedCharts, "DOM: \(dom.prefix(400))")
        #expect(!dom.contains("<img"), "the report draws its plots inline, it links no image")
        let log = try HeadlessChromium.screenshot(url, to: screenshot, width: 1400, height: 2600)
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.count > 10_000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "\(log.suffix(800))")
    }
}
