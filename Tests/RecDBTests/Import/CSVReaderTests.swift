import Foundation
import Testing

@testable import RecDB

@Suite("Import: line and CSV readers")
struct CSVReaderTests {
    @Test func quotedFieldsHoldDelimitersQuotesAndLineBreaks() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "quoted.csv",
                "id,text\r\n1,\"a, b\"\r\n2,\"say \"\"hi\"\"\"\r\n3,\"two\nlines\"\r\n4,last")
            let reader = try CSVReader(path: path)
            var rows: [[String]] = []
            var lines: [Int] = []
            while let row = try reader.nextRow() {
                rows.append(row)
                lines.append(reader.rowLine)
            }
            #expect(
                rows == [["id", "text"], ["1", "a, b"], ["2", "say \"hi\""], ["3", "two\nlines"], ["4", "last"]])
            // A row's location is the line it starts on; a quoted line break moves the next row down.
            #expect(lines == [1, 2, 3, 4, 6])
        }
    }

    @Test func lineReaderCountsLinesAndStripsBreaks() throws {
        try TemporaryDirectory.with { folder in
            let plain = try folder.write("plain.txt", "one\r\n\ntwo\nthree")
            let gzipped = try folder.gzip(folder.write("gzipped.txt", "one\r\n\ntwo\nthree"))
            for path in [plain, gzipped] {
                let reader = try LineReader(path: path)
                var lines: [String] = []
                while let line = try reader.nextLine() { lines.append(line) }
                #expect(lines == ["one", "", "two", "three"], "\(path)")
                #expect(reader.lineNumber == 4)
            }
        }
    }

    @Test func aFolderIsNotAFile() throws {
        try TemporaryDirectory.with { folder in
            expectRecDBError(.invalidArgument) { _ = try LineReader(path: folder.path) }
            expectRecDBError(.notFound) { _ = try LineReader(path: folder.appending("missing.txt")) }
        }
    }
}
