import RecDB
import RecTestSupport
import Testing

@testable import RecReplication

/// The manifest that ends a shipped generation (``GenerationShipping``): it survives its encoding, and a broken one
/// is named, not crashed on.
@Suite struct GenerationManifestTests {
    @Test func aManifestSurvivesItsEncoding() throws {
        let bytes = Array("generation bytes".utf8)
        let manifest = GenerationShipping.Manifest(
            id: "n1-x-7", chunks: 1, size: bytes.count, checksum: GenerationArchive.checksum(bytes))
        #expect(try GenerationShipping.Manifest(decoding: manifest.encoded) == manifest)
        // zlib's CRC-32 of a known string.
        #expect(GenerationArchive.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func aBrokenManifestIsNamedNotCrashedOn() {
        expectRecDBError(.malformedInput) { _ = try GenerationShipping.Manifest(decoding: Array("[1]".utf8)) }
        expectRecDBError(.malformedInput) {
            _ = try GenerationShipping.Manifest(decoding: Array(#"{"id":"a","chunks":-1,"size":3,"crc32":1}"#.utf8))
        }
    }
}
