import Foundation

/// A NumPy `.npy` array of float32 or int32 (little-endian, C order), read whole.
struct NPYArray {
    var shape: [Int]
    var floats: [Float] = []
    var ints: [Int32] = []

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count > 10, data.prefix(6) == Data([0x93]) + Data("NUMPY".utf8) else {
            throw BenchError("\(path): not an .npy file")
        }
        let headerLength: Int, headerStart: Int
        if data[6] == 1 {
            headerLength = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        } else {
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            headerStart = 12
        }
        let header = String(decoding: data[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard !header.contains("'fortran_order': True") else { throw BenchError("\(path): Fortran order") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw BenchError("\(path): no shape") }
        shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let body = data[(headerStart + headerLength)...]
        if header.contains("'<f4'") {
            floats = body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        } else if header.contains("'<i4'") {
            ints = body.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        } else {
            throw BenchError("\(path): unsupported dtype in \(header) (float32 or int32 expected)")
        }
        guard max(floats.count, ints.count) == shape.reduce(1, *) else {
            throw BenchError("\(path): \(max(floats.count, ints.count)) values for shape \(shape)")
        }
    }

    var rows: Int { shape.first ?? 0 }
    var columns: Int { shape.count > 1 ? shape[1...].reduce(1, *) : 1 }

    /// Writes a one- or two-dimensional float32 or int32 array as `.npy` format 1.0.
    static func write<T>(_ values: [T], shape: [Int], to path: String) throws {
        let dtype: String
        switch T.self {
        case is Float.Type: dtype = "<f4"
        case is Int32.Type: dtype = "<i4"
        default: throw BenchError("NPYArray.write: float32 or int32 only")
        }
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(dtype)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0])
        data.append(UInt8(header.utf8.count & 0xFF))
        data.append(UInt8(header.utf8.count >> 8))
        data.append(Data(header.utf8))
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        try data.write(to: URL(fileURLWithPath: path))
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
