import Foundation

/// A NumPy `.npy` array of float32 or int32 (little-endian, C order), read whole.
public struct NPYArray {
    public var shape: [Int]
    public var floats: [Float] = []
    public var ints: [Int32] = []

    public init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count > 10, data.prefix(6) == Data([0x93]) + Data("NUMPY".utf8) else {
            throw BenchError("\(path): not an .npy file")
        }
        let major = data[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        } else {
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            headerStart = 12
        }
        let header = String(decoding: data[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard !header.contains("'fortran_order': True") else { throw BenchError("\(path): Fortran order") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw BenchError("\(path): no shape")
        }
        shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let body = data[(headerStart + headerLength)...]
        if header.contains("'<f4'") {
            floats = body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        } else if header.contains("'<i4'") {
            ints = body.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        } else if header.contains("'|u1'") || header.contains("'<u1'") || header.contains("'|b1'") {
            ints = body.map { Int32($0) }
        } else if header.contains("'<i8'") {
            ints = body.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int32(truncatingIfNeeded: $0) } }
        } else {
            throw BenchError("\(path): unsupported dtype in \(header)")
        }
        guard max(floats.count, ints.count) == shape.reduce(1, *) else {
            throw BenchError("\(path): \(max(floats.count, ints.count)) values for shape \(shape)")
        }
    }

    public var rows: Int { shape.first ?? 0 }
    public var columns: Int { shape.count > 1 ? shape[1...].reduce(1, *) : 1 }

    public func row(_ i: Int) -> ArraySlice<Float> { floats[i * columns..<(i + 1) * columns] }

    /// Writes a float32 or int32 array of `shape` (C order) as `.npy` format 1.0.
    public static func write<T>(_ values: [T], shape: [Int], to path: String) throws {
        let dtype: String
        switch T.self {
        case is Float.Type: dtype = "<f4"
        case is Int32.Type: dtype = "<i4"
        default: throw BenchError("NPYArray.write: float32 or int32 only")
        }
        guard shape.reduce(1, *) == values.count else {
            throw BenchError("NPYArray.write: \(values.count) values for shape \(shape)")
        }
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(dtype)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        var data = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(Data(header.utf8))
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension NPYArray {
    /// The same integers viewed as rows of `rowLength` (for F × Q × K ground truth).
    public static func reshaped(_ array: NPYArray, rowLength: Int) -> NPYArray {
        var copy = array
        copy.shape = [array.ints.count / rowLength, rowLength]
        return copy
    }
}
