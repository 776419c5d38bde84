import Foundation
import Testing

@testable import RecDB

/// `importVectors` from `.fvecs`, `.npy` and CSV files: rows land on the right ids, unknown ids and bad rows stop the
/// import with their `file:row` and keep the batches committed before, and damaged files are clear errors.
@Suite("Vector files")
struct VectorFileTests {
    // MARK: - Fixtures

    /// Rows as `.fvecs`: per row a little-endian int32 dimension, then the float32 values.
    static func fvecs(_ rows: [[Float]]) -> [UInt8] {
        var bytes: [UInt8] = []
        for row in rows {
            withUnsafeBytes(of: Int32(row.count).littleEndian) { bytes += $0 }
            for value in row { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        }
        return bytes
    }

    /// A version 1.0 `.npy` file: the magic, the version, a little-endian u16 header length and a header dict padded
    /// with spaces so that the data starts at a multiple of 64, then `payload` (by default `rows` in `descr`).
    static func npy(
        _ rows: [[Float]], descr: String = "<f4", fortranOrder: Bool = false, shape: String? = nil,
        payload: [UInt8]? = nil
    ) -> [UInt8] {
        let columns = rows.first?.count ?? 0
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), "
            + "'shape': \(shape ?? "(\(rows.count), \(columns))"), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8)
        #expect(bytes.count % 64 == 0)
        if let payload { return bytes + payload }
        for row in rows {
            for value in row {
                switch descr {
                case "<f8": withUnsafeBytes(of: Double(value).bitPattern.littleEndian) { bytes += $0 }
                case "<i4": withUnsafeBytes(of: Int32(value).littleEndian) { bytes += $0 }
                default: withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
                }
            }
        }
        return bytes
    }

    /// Values that float32, float64 and text all carry exactly.
    static let rows: [[Float]] = [[1, 0, 0], [0.5, -2, 0.25], [-1.5, 3, 8], [0, 0, -0.125], [4, 4, 4]]

    /// A database with a 3-d L2 space `e` (L2 keeps vectors as written) and items named `items`.
    static func makeDatabase(_ folder: TemporaryDirectory, items: [String]) throws -> RecDatabase {
        let db = try folder.createDatabase()
        try db.createSpace("e", dimension: 3, metric: .l2)
        try db.write { w in
            for id in items { try w.upsertItem(id, attributes: [:]) }
        }
        return db
    }

    static func storedVectors(_ db: RecDatabase, _ ids: [String]) throws -> [[Float]?] {
        try db.read { r in try ids.map { try r.vector(space: "e", id: $0) } }
    }

    /// Runs `body`, expects a ``RecDBError`` with `code` and returns it.
    @discardableResult
    static func expectError(
        _ code: RecDBError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) -> RecDBError? {
        let error = #expect(throws: RecDBError.self, sourceLocation: sourceLocation) { try body() }
        if let error { #expect(error.code == code, "\(error)", sourceLocation: sourceLocation) }
        return error
    }

    // MARK: - Formats

    @Test func fvecsRowsBecomeIdsZeroOneTwo() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["0", "1", "2", "3", "4"])
            let path = try folder.write("v.fvecs", bytes: Self.fvecs(Self.rows))
            let report = try db.importVectors(space: "e", from: VectorFile(path: path))
            #expect(report.rows == 5 && report.created == 0)
            #expect(try Self.storedVectors(db, ["0", "1", "2", "3", "4"]) == Self.rows)
        }
    }

    @Test(arguments: ["<f4", "<f8"])
    func npyRowsBecomeIdsZeroOneTwo(descr: String) throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["0", "1", "2", "3", "4"])
            let path = try folder.write("v.npy", bytes: Self.npy(Self.rows, descr: descr))
            let report = try db.importVectors(space: "e", from: VectorFile(path: path))
            #expect(report.rows == 5 && report.created == 0)
            #expect(try Self.storedVectors(db, ["0", "1", "2", "3", "4"]) == Self.rows)
        }
    }

    @Test(arguments: [false, true])
    func csvRowsNameTheirItems(withHeader: Bool) throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["sku-b", "sku-a", "sku-c"])
            let path = try folder.write(
                "v.csv",
                (withHeader ? "id,x,y,z\n" : "") + "sku-a,1,0,0\nsku-b, 0.5 ,-2,0.25\n\nsku-c,-1.5,3,8\n")
            let report = try db.importVectors(space: "e", from: VectorFile(path: path))
            #expect(report.rows == 3)
            #expect(try Self.storedVectors(db, ["sku-a", "sku-b", "sku-c"]) == Array(Self.rows.prefix(3)))
        }
    }

    @Test func createMissingCreatesTheItems() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["1"])
            let path = try folder.write("v.fvecs", bytes: Self.fvecs(Self.rows))
            let report = try db.importVectors(
                space: "e", from: VectorFile(path: path), createMissing: true, batchSize: 2)
            #expect(report.rows == 5 && report.created == 4)
            #expect(try db.read { try $0.itemCount } == 5)
            #expect(try Self.storedVectors(db, ["0", "1", "2", "3", "4"]) == Self.rows)
            // The same file as users: creates users, leaves the item vectors alone.
            let users = try db.importVectors(
                space: "e", kind: .users, from: VectorFile(path: path), createMissing: true)
            #expect(users.created == 5)
            #expect(try db.read { try $0.vector(space: "e", .users, id: "2") } == Self.rows[2])
            #expect(try db.read { try $0.vectorCount(space: "e", .items) } == 5)
        }
    }

    // MARK: - Bad rows

    @Test func unknownIdStopsWithItsRowAndKeepsEarlierBatches() throws {
        try TemporaryDirectory.with { folder in
            // .fvecs: row 3 names item "3", which does not exist; batches of 2 commit rows 0 and 1 only.
            let db = try Self.makeDatabase(folder, items: ["0", "1", "2", "4"])
            let fvecs = try folder.write("v.fvecs", bytes: Self.fvecs(Self.rows))
            let error = Self.expectError(.notFound) {
                try db.importVectors(space: "e", from: VectorFile(path: fvecs), batchSize: 2)
            }
            #expect(error?.location?.hasSuffix("v.fvecs:3") == true, "\(String(describing: error))")
            #expect(error?.message.contains("'3'") == true)
            #expect(try Self.storedVectors(db, ["0", "1", "2", "4"]) == [Self.rows[0], Self.rows[1], nil, nil])

            // CSV: the unknown id on line 6 (after the header); batches of 2 commit four rows.
            let csv = try folder.write("v.csv", "id,x,y,z\n0,1,1,1\n1,1,1,1\n2,1,1,1\n4,1,1,1\nghost,1,1,1\n")
            let csvError = Self.expectError(.notFound) {
                try db.importVectors(space: "e", from: VectorFile(path: csv), batchSize: 2)
            }
            #expect(csvError?.location?.hasSuffix("v.csv:6") == true, "\(String(describing: csvError))")
            #expect(csvError?.message.contains("'ghost'") == true)
            #expect(try Self.storedVectors(db, ["0", "1", "2", "4"]) == Array(repeating: [1, 1, 1], count: 4))
            #expect(try db.read { try $0.itemID(for: "ghost") } == nil)
        }
    }

    @Test func wrongDimensionStopsWithItsRow() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["0", "1", "2"])
            let csv = try folder.write("v.csv", "0,1,2,3\n1,1,2\n2,1,2,3\n")
            let error = Self.expectError(.invalidArgument) {
                try db.importVectors(space: "e", from: VectorFile(path: csv), batchSize: 1)
            }
            #expect(error?.location?.hasSuffix("v.csv:2") == true, "\(String(describing: error))")
            #expect(error?.message.contains("2 dimensions") == true, "\(String(describing: error))")
            #expect(try Self.storedVectors(db, ["0", "1", "2"]) == [[1, 2, 3], nil, nil])

            let npy = try folder.write("w.npy", bytes: Self.npy([[1, 2, 3, 4], [5, 6, 7, 8]]))
            let npyError = Self.expectError(.invalidArgument) {
                try db.importVectors(space: "e", from: VectorFile(path: npy))
            }
            #expect(npyError?.location?.hasSuffix("w.npy:0") == true, "\(String(describing: npyError))")
            let fvecs = try folder.write("w.fvecs", bytes: Self.fvecs([[1, 2, 3], [1, 2]]))
            let fvecsError = Self.expectError(.invalidArgument) {
                try db.importVectors(space: "e", from: VectorFile(path: fvecs))
            }
            #expect(fvecsError?.location?.hasSuffix("w.fvecs:1") == true, "\(String(describing: fvecsError))")
            // Nothing of the failed files was committed (one batch each).
            #expect(try Self.storedVectors(db, ["0", "1", "2"]) == [[1, 2, 3], nil, nil])
        }
    }

    @Test func nanInCSVIsInvalid() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["0", "1"])
            let path = try folder.write("v.csv", "id,x,y,z\n0,1,2,3\n1,1,nan,3\n")
            let error = Self.expectError(.invalidArgument) {
                try db.importVectors(space: "e", from: VectorFile(path: path))
            }
            #expect(error?.location?.hasSuffix("v.csv:3") == true, "\(String(describing: error))")
            #expect(try db.read { try $0.vectorCount(space: "e") } == 0)
        }
    }

    // MARK: - Damaged files

    @Test func truncatedFvecsIsTruncatedInput() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["0", "1", "2"])
            let whole = Self.fvecs(Array(Self.rows.prefix(3)))
            // Cut inside the last row's values, and inside its dimension word.
            for (name, cut) in [("a.fvecs", 4), ("b.fvecs", 4 * 3 + 2)] {
                let path = try folder.write(name, bytes: Array(whole.dropLast(cut)))
                let error = Self.expectError(.truncatedInput) {
                    try db.importVectors(space: "e", from: VectorFile(path: path), batchSize: 1)
                }
                #expect(error?.location?.hasSuffix(name) == true || error?.location?.hasSuffix("\(name):2") == true)
            }
            // Rows before the cut were committed batch by batch.
            #expect(try Self.storedVectors(db, ["0", "1", "2"]) == [Self.rows[0], Self.rows[1], nil])
        }
    }

    @Test func truncatedNpyIsTruncatedInput() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["0", "1", "2"])
            let whole = Self.npy(Array(Self.rows.prefix(3)))
            let path = try folder.write("v.npy", bytes: Array(whole.dropLast(4)))
            Self.expectError(.truncatedInput) { try db.importVectors(space: "e", from: VectorFile(path: path)) }
            // A header that claims more bytes than the file has.
            let header = try folder.write("h.npy", bytes: Array(whole.prefix(40)))
            Self.expectError(.truncatedInput) { try db.importVectors(space: "e", from: VectorFile(path: header)) }
            #expect(try db.read { try $0.vectorCount(space: "e") } == 0)
        }
    }

    @Test(arguments: ["fortran order", "int32", "big-endian float32", "one-dimensional", "not NumPy"])
    func unsupportedNpyIsMalformed(kind: String) throws {
        let rows: [[Float]] = [[1, 2, 3], [4, 5, 6]]
        let bytes: [UInt8] =
            switch kind {
            case "fortran order": Self.npy(rows, fortranOrder: true)
            case "int32": Self.npy(rows, descr: "<i4")
            case "big-endian float32": Self.npy(rows, descr: ">f4")
            case "one-dimensional": Self.npy(rows, shape: "(6,)")
            default: Array("just text, not an array\n".utf8)
            }
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["0", "1", "2"])
            let path = try folder.write("v.npy", bytes: bytes)
            let error = Self.expectError(.malformedInput) {
                try db.importVectors(space: "e", from: VectorFile(path: path))
            }
            #expect(error?.location == path, "\(kind): \(String(describing: error))")
            #expect(try db.read { try $0.vectorCount(space: "e") } == 0)
        }
    }

    @Test func missingFileAndUnknownSpaceAreNotFound() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder, items: ["0"])
            Self.expectError(.notFound) { _ = try VectorFile(path: folder.appending("absent.fvecs")) }
            let path = try folder.write("v.csv", "0,1,2,3\n")
            Self.expectError(.notFound) { try db.importVectors(space: "nope", from: VectorFile(path: path)) }
        }
    }
}
