import Foundation

/// Reads vectors from `.fvecs` (int32 dimension + float32 values per row), `.npy` (2-D float32 or float64,
/// C order) or CSV/TSV (an id column, then one column per dimension; a header row is recognised and skipped).
/// Rows of `.fvecs` and `.npy` files have no ids: row `i` (from 0) stands for the item or user with id `"i"`.
public struct VectorFile {
    /// The file to read; its suffix (`.fvecs`, `.npy`, else delimited text) decides how.
    public let path: String

    /// Names the file to read; throws `notFound` when it does not exist. Nothing is read until ``forEachRow(_:)``.
    public init(path: String) throws {
        try DatasetFiles.requireExists(path)
        self.path = path
    }

    /// Calls `body` with each row's id, values and location (`file:row`).
    public func forEachRow(_ body: (String, [Float], String) throws -> Void) throws {
        let name = (path as NSString).lastPathComponent
        if path.hasSuffix(".fvecs") {
            let data = try Self.load(path)
            var offset = 0, row = 0
            while offset < data.count {
                guard offset + 4 <= data.count else { throw RecDBError(.truncatedInput, "row \(row) is cut short", location: path) }
                let dimension = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) })
                guard dimension > 0, dimension <= EmbeddingSpace.maxDimension else {
                    throw RecDBError(.malformedInput, "row \(row) declares dimension \(dimension)", location: "\(path):\(row)")
                }
                guard offset + 4 + dimension * 4 <= data.count else {
                    throw RecDBError(.truncatedInput, "row \(row) is cut short (file truncated?)", location: "\(path):\(row)")
                }
                let values = data.withUnsafeBytes { raw in
                    (0..<dimension).map { raw.loadUnaligned(fromByteOffset: offset + 4 + $0 * 4, as: Float.self) }
                }
                try body(String(row), values, "\(name):\(row)")
                offset += 4 + dimension * 4
                row += 1
            }
        } else if path.hasSuffix(".npy") {
            let data = try Self.load(path)
            let (shape, isDouble, start) = try Self.npyHeader(data, path: path)
            guard shape.count == 2 else { throw RecDBError(.malformedInput, "expected a 2-D array, found shape \(shape)", location: path) }
            let rows = shape[0], columns = shape[1], width = isDouble ? 8 : 4
            guard data.count >= start + rows * columns * width else {
                throw RecDBError(.truncatedInput, "the array data ends early (file truncated?)", location: path)
            }
            for row in 0..<rows {
                let values: [Float] = data.withUnsafeBytes { raw in
                    (0..<columns).map { column in
                        let at = start + (row * columns + column) * width
                        return isDouble ? Float(raw.loadUnaligned(fromByteOffset: at, as: Double.self))
                            : raw.loadUnaligned(fromByteOffset: at, as: Float.self)
                    }
                }
                try body(String(row), values, "\(name):\(row)")
            }
        } else {
            let reader = try CSVReader(path: path, delimiter: path.hasSuffix(".tsv") ? "\t" : ",")
            var first = true
            while let fields = try reader.nextRow() {
                defer { first = false }
                if fields.count == 1 && fields[0].isEmpty { continue }
                guard fields.count >= 2 else {
                    throw RecDBError(.malformedInput, "expected an id and at least one value", location: reader.location)
                }
                var values: [Float] = []
                values.reserveCapacity(fields.count - 1)
                var numeric = true
                for field in fields.dropFirst() {
                    guard let value = Float(field.trimmedSpaces) else {
                        numeric = false
                        break
                    }
                    values.append(value)
                }
                if !numeric {
                    if first { continue }  // a header row
                    throw RecDBError(.malformedInput, "a value is not a number", location: reader.location)
                }
                try body(fields[0].trimmedSpaces, values, reader.location)
            }
        }
    }

    static func load(_ path: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw RecDBError(.io, "cannot read: \(error.localizedDescription)", location: path)
        }
    }

    static func npyHeader(_ data: Data, path: String) throws -> (shape: [Int], isDouble: Bool, start: Int) {
        guard data.count >= 10, data.prefix(6) == Data([0x93]) + Data("NUMPY".utf8) else {
            throw RecDBError(.malformedInput, "not a NumPy .npy file", location: path)
        }
        let long = data[data.startIndex + 6] >= 2
        let length = long
            ? Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) })
            : Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt16.self) })
        let start = (long ? 12 : 10) + length
        guard data.count >= start else { throw RecDBError(.truncatedInput, "the header ends early", location: path) }
        let header = String(decoding: data[(data.startIndex + (long ? 12 : 10))..<(data.startIndex + start)], as: UTF8.self)
        guard !header.contains("'fortran_order': True") else {
            throw RecDBError(.malformedInput, "Fortran-ordered arrays are not supported; save with C order", location: path)
        }
        let isDouble: Bool
        if header.contains("'<f4'") {
            isDouble = false
        } else if header.contains("'<f8'") {
            isDouble = true
        } else {
            throw RecDBError(.malformedInput, "expected float32 or float64 data: \(header.trimmedSpaces)", location: path)
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw RecDBError(.malformedInput, "the header has no shape", location: path)
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int(String($0).trimmedSpaces) }
        return (shape, isDouble, start)
    }
}

/// What a vector import did.
public struct VectorImportReport: Sendable {
    /// Vectors written.
    public var rows = 0
    /// Items or users created because their id was unknown (only with `createMissing`).
    public var created = 0
    /// Wall-clock duration of the import.
    public var seconds = 0.0
}

extension RecDatabase {
    /// Writes every vector of `file` into `space` in transactions of `batchSize` rows. Rows name items (or users)
    /// by external id; unknown ids are an error unless `createMissing`. A bad row stops the import with its
    /// location; batches committed before it stay.
    @discardableResult
    public func importVectors(
        space name: String, kind: VectorKind = .items, from file: VectorFile, createMissing: Bool = false,
        batchSize: Int = 10_000, progress: ((Int) -> Void)? = nil
    ) throws -> VectorImportReport {
        let started = Date()
        let space = try read { try $0.requireSpace(name) }
        var report = VectorImportReport()
        var batch: [(String, [Float], String)] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            let created = try write { w -> Int in
                var created = 0
                for (id, values, location) in batch {
                    var node = kind == .items ? try w.itemID(for: id) : try w.userID(for: id)
                    if node == nil && createMissing {
                        node = kind == .items ? try w.upsertItem(id, attributes: [:]) : try w.upsertUser(id)
                        created += 1
                    }
                    guard let node else {
                        throw RecDBError(
                            .notFound, "unknown \(kind == .items ? "item" : "user") '\(id)' (--create-missing creates it)",
                            location: location)
                    }
                    do {
                        try w.setVector(values, space: space, kind: kind, node: node, owner: "'\(id)'")
                    } catch var error as RecDBError {
                        error.location = location
                        throw error
                    }
                }
                return created
            }
            report.rows += batch.count
            report.created += created
            batch.removeAll(keepingCapacity: true)
            progress?(report.rows)
        }
        try environment.withDeferredMetaSync {
            try file.forEachRow { id, values, location in
                batch.append((id, values, location))
                if batch.count >= batchSize { try flush() }
            }
            try flush()
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }
}
