import Foundation
import Testing
@testable import RecML

/// Builds small GGUF files in memory, so the reader is tested without any model installed.
private struct GGUFBuilder {
    var bytes: [UInt8] = []
    var kv: [[UInt8]] = []
    var infos: [[UInt8]] = []
    var data: [UInt8] = []

    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func str(_ s: String) -> [UInt8] { u64(UInt64(s.utf8.count)) + Array(s.utf8) }

    mutating func add(_ key: String, type: UInt32, _ payload: [UInt8]) {
        kv.append(Self.str(key) + Self.u32(type) + payload)
    }

    /// Adds a tensor whose data is `payload` (padded to 32 bytes in the data section).
    mutating func tensor(_ name: String, shape: [UInt64], type: UInt32, _ payload: [UInt8]) {
        var info = Self.str(name) + Self.u32(UInt32(shape.count))
        for d in shape { info += Self.u64(d) }
        info += Self.u32(type) + Self.u64(UInt64(data.count))
        infos.append(info)
        data += payload
        while data.count % 32 != 0 { data.append(0) }
    }

    func build() -> [UInt8] {
        var out = Array("GGUF".utf8) + Self.u32(3) + Self.u64(UInt64(infos.count)) + Self.u64(UInt64(kv.count))
        for k in kv { out += k }
        for i in infos { out += i }
        while out.count % 32 != 0 { out.append(0) }
        return out + data
    }
}

@Suite struct GGUFFileTests {
    private func write(_ bytes: [UInt8], _ tag: String) throws -> String {
        let path = NSTemporaryDirectory() + "recml-gguf-\(getpid())-\(tag).gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func sample() -> [UInt8] {
        var b = GGUFBuilder()
        b.add("general.architecture", type: 8, GGUFBuilder.str("llama"))
        b.add("u8", type: 0, [200])
        b.add("i8", type: 1, [0xFF])
        b.add("u16", type: 2, [0x34, 0x12])
        b.add("i16", type: 3, [0xFE, 0xFF])
        b.add("u32", type: 4, GGUFBuilder.u32(70000))
        b.add("i32", type: 5, GGUFBuilder.u32(UInt32(bitPattern: -5)))
        b.add("f32", type: 6, GGUFBuilder.u32(Float(1.5).bitPattern))
        b.add("bool", type: 7, [1])
        b.add("u64", type: 10, GGUFBuilder.u64(1 << 40))
        b.add("i64", type: 11, GGUFBuilder.u64(UInt64(bitPattern: -7)))
        b.add("f64", type: 12, GGUFBuilder.u64(Double(0.25).bitPattern))
        b.add("strings", type: 9, GGUFBuilder.u32(8) + GGUFBuilder.u64(3)
            + GGUFBuilder.str("a") + GGUFBuilder.str("Ġb") + GGUFBuilder.str("<|im_end|>"))
        b.add("ints", type: 9, GGUFBuilder.u32(5) + GGUFBuilder.u64(2) + GGUFBuilder.u32(1) + GGUFBuilder.u32(3))
        // F32 2x32 with values i * 0.5
        var f32: [UInt8] = []
        for i in 0..<64 { f32 += GGUFBuilder.u32((Float(i) * 0.5).bitPattern) }
        b.tensor("f32", shape: [32, 2], type: 0, f32)
        // F16: 1.0 (0x3C00) and -2.0 (0xC000) alternating
        var f16: [UInt8] = []
        for i in 0..<32 { f16 += i % 2 == 0 ? [0x00, 0x3C] : [0x00, 0xC0] }
        b.tensor("f16", shape: [32], type: 1, f16)
        // Q8_0: d = 0.5, q = j - 16
        var q8: [UInt8] = [0x00, 0x38]
        for j in 0..<32 { q8.append(UInt8(bitPattern: Int8(j - 16))) }
        b.tensor("q8", shape: [32], type: 8, q8)
        // Q4_1: d = 1, m = -8, byte j holds (j, 15 - j)
        var q4: [UInt8] = [0x00, 0x3C, 0x00, 0xC8]
        for j in 0..<16 { q4.append(UInt8(j) | UInt8(15 - j) << 4) }
        b.tensor("q4", shape: [32], type: 3, q4)
        return b.build()
    }

    @Test func readsEveryMetadataTypeAndTensorType() throws {
        let path = try write(sample(), "ok")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let g = try GGUFFile(path: path)
        #expect(g.version == 3)
        #expect(try g.string("general.architecture") == "llama")
        #expect(g["u8"] == .uint(200))
        #expect(g["i8"] == .int(-1))
        #expect(g["u16"] == .uint(0x1234))
        #expect(g["i16"] == .int(-2))
        #expect(try g.uint("u32") == 70000)
        #expect(g["i32"] == .int(-5))
        #expect(try g.float("f32") == 1.5)
        #expect(g.bool("bool") == true)
        #expect(try g.uint("u64") == 1 << 40)
        #expect(g["i64"] == .int(-7))
        #expect(try g.float("f64") == 0.25)
        #expect(try g.strings("strings") == ["a", "Ġb", "<|im_end|>"])
        #expect(try g.ints("ints") == [1, 3])
        #expect(g.tensors.count == 4)
        #expect(g.dataOffset % 32 == 0)
        var row = [Float](repeating: 0, count: 32)
        let f32 = try g.tensor("f32")
        #expect(f32.shape == [32, 2] && f32.rows == 2 && f32.type == .f32)
        row.withUnsafeMutableBufferPointer { g.dequantizeRow(f32, row: 1, into: $0.baseAddress!) }
        #expect(row[0] == 16 && row[31] == 31.5)
        row.withUnsafeMutableBufferPointer { g.dequantizeRow(try! g.tensor("f16"), row: 0, into: $0.baseAddress!) }
        #expect(row[0] == 1 && row[1] == -2)
        row.withUnsafeMutableBufferPointer { g.dequantizeRow(try! g.tensor("q8"), row: 0, into: $0.baseAddress!) }
        #expect(row[0] == -8 && row[31] == 7.5)
        row.withUnsafeMutableBufferPointer { g.dequantizeRow(try! g.tensor("q4"), row: 0, into: $0.baseAddress!) }
        #expect(row[0] == -8 && row[15] == 7 && row[16] == 7 && row[31] == -8)
        #expect(throws: RecMLError.self) { try g.tensor("missing") }
    }

    @Test func truncatedFilesAreCorruptModelNamingFileAndOffset() throws {
        let full = sample()
        // the last tensor (Q4_1, 20 bytes) is followed by 12 bytes of padding: count - 13 cuts into its data
        for cut in [3, 10, 30, 200, full.count - 40, full.count - 13] {
            let path = try write(Array(full[0..<cut]), "cut\(cut)")
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                _ = try GGUFFile(path: path)
                Issue.record("file cut at \(cut) bytes was accepted")
            } catch let error as RecMLError {
                #expect(error.code == .corruptModel, "cut \(cut): \(error)")
                #expect(error.description.contains(path))
                #expect(error.description.contains("@"), "names a byte offset: \(error)")
            }
        }
    }

    @Test func badMagicAndUnsupportedTensorType() throws {
        var bytes = sample()
        bytes[0] = UInt8(ascii: "X")
        let bad = try write(bytes, "magic")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        #expect { try GGUFFile(path: bad) } throws: { ($0 as? RecMLError)?.code == .corruptModel }

        var b = GGUFBuilder()
        b.tensor("blk.0.weird", shape: [256], type: 12, [UInt8](repeating: 0, count: 144))  // Q4_K
        let path = try write(b.build(), "q4k")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try GGUFFile(path: path)
            Issue.record("Q4_K tensor was accepted")
        } catch let error as RecMLError {
            #expect(error.code == .unsupported)
            #expect(error.description.contains("blk.0.weird"))
        }
    }
}
