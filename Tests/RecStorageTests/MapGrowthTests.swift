import Foundation
import Testing

@testable import RecStorage
import RecWire

@Suite("Map growth")
struct MapGrowthTests {
    static let valueSize = 64 << 10

    /// A value that tells which key it belongs to in every byte.
    static func value(for key: UInt32) -> [UInt8] {
        var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: key &* 31 &+ 7), count: valueSize)
        withUnsafeBytes(of: key.bigEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        return bytes
    }

    @Test func mapGrowsPastInitialSize() throws {
        try TemporaryDirectory.with { folder in
            var options = Environment.Options()
            options.initialMapSize = 1 << 20
            options.noSync = true  // Only speed: the test is about the map, not durability.
            let bigTransactionKeys: Range<UInt32> = 0..<64  // 4 MiB in one transaction.
            let laterKeys: Range<UInt32> = 64..<320  // 16 MiB more, 1 MiB per transaction.
            do {
                let env = try Environment.open(at: folder.path, options: options)
                let blobs = try env.database("blobs", key: UInt32Codec.self, value: BytesCodec.self)
                #expect(env.mapSize == 1 << 20)

                var attempts = 0
                try env.write { txn throws in
                    attempts += 1
                    for key in bigTransactionKeys { try blobs.put(key, Self.value(for: key), in: &txn) }
                }
                #expect(attempts > 1, "a transaction larger than the map must have run again after the map grew")

                for chunk in stride(from: laterKeys.lowerBound, to: laterKeys.upperBound, by: 16) {
                    try env.write { txn throws in
                        for key in chunk..<chunk + 16 { try blobs.put(key, Self.value(for: key), in: &txn) }
                    }
                }
                #expect(env.mapSize > 1 << 20)
                #expect(env.mapSize >= env.usedBytes)
                #expect(env.usedBytes >= 20 << 20)
                try Self.expectAllValues(blobs, in: env, keys: 0..<laterKeys.upperBound)
            }
            // Reopened with the same small initial size, the environment adopts a map that holds the file.
            let env = try Environment.open(at: folder.path, options: options)
            let blobs = try env.database("blobs", key: UInt32Codec.self, value: BytesCodec.self)
            #expect(env.mapSize >= env.fileSize)
            try Self.expectAllValues(blobs, in: env, keys: 0..<laterKeys.upperBound)
        }
    }

    static func expectAllValues(
        _ blobs: Database<UInt32Codec, BytesCodec>,
        in env: Environment,
        keys: Range<UInt32>
    ) throws {
        try env.read { txn throws in
            #expect(try blobs.count(in: txn) == keys.count)
            for key in keys {
                let expected = value(for: key)
                let matches = try blobs.withValue(key, in: txn) { stored in
                    stored.count == expected.count
                        && expected.withUnsafeBytes { memcmp($0.baseAddress!, stored.baseAddress!, stored.count) == 0 }
                }
                #expect(matches == true, "value of key \(key)")
            }
        }
    }
}
