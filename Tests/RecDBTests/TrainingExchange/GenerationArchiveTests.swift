import Foundation
import Testing

@testable import RecDB

/// `exportGeneration` / `installGeneration`: a generation trained on one database installs on another with the same
/// catalog as the model's next generation, serving the same answers from the same bytes; a damaged archive fails
/// before anything changes.
@Suite("Generation archives")
struct GenerationArchiveTests {
    /// The `model_data` values of `model`'s active generation, keyed without the name and generation.
    static func modelData(_ db: RecDatabase, _ model: String) throws -> [[UInt8]: [UInt8]] {
        try db.read { r in
            let record = try #require(try r.model(model))
            let prefix = ModelSchema.dataPrefix(model, record.generation)
            var values: [[UInt8]: [UInt8]] = [:]
            try db.modelSchema.data.scanRaw(in: r.txn, prefix: prefix) { key, value in
                values[Array(key[prefix.count...])] = Array(value)
                return .next
            }
            return values
        }
    }

    @Test func anInstalledGenerationServesWhatTheTrainerServes() throws {
        try TemporaryDirectory.with { first in
            try TemporaryDirectory.with { second in
                let trainer = try RefreshTests.makeDatabase(first)
                let replica = try RefreshTests.makeDatabase(second)
                try trainer.refresh(RefreshTests.als, threads: 1)
                try trainer.refresh(RefreshTests.als, threads: 1)  // generation 2 on the trainer
                let archive = try GenerationArchive(bytes: try trainer.exportGeneration(of: "als").bytes)
                #expect(archive.record.name == "als" && archive.record.generation == 2)
                let report = try replica.installGeneration(archive)
                // The replica numbers its own generations; the content is the trainer's.
                #expect(report.record.generation == 1 && report.record.space == "als@1")
                #expect(try Self.modelData(replica, "als") == Self.modelData(trainer, "als"))
                for kind in [VectorKind.items, .users] {
                    let installed = try replica.read { r in try r.vectorCount(space: "als@1", kind) }
                    let trained = try trainer.read { r in try r.vectorCount(space: "als@2", kind) }
                    #expect(installed > 0 && installed == trained)
                }
                for user in ["u0", "u3", "u7", "u11"] {
                    let expected = try trainer.read { r in try r.recommend(model: "als", user: user, k: 6) }
                    let installed = try replica.read { r in try r.recommend(model: "als", user: user, k: 6) }
                    #expect(installed.map(\.item) == expected.map(\.item))
                    #expect(installed.map(\.score) == expected.map(\.score))
                }
                // A second install switches again and drops the replaced generation's space.
                try replica.installGeneration(archive)
                #expect(try replica.spaces().map(\.name) == ["als@2"])
            }
        }
    }

    @Test func aDamagedArchiveIsRefusedAndChangesNothing() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(RefreshTests.als, threads: 1)
            let bytes = try db.exportGeneration(of: "als").bytes
            var flipped = bytes
            flipped[bytes.count / 2] ^= 0x40
            expectRecDBError(.malformedInput) { _ = try GenerationArchive(bytes: flipped) }
            expectRecDBError(.malformedInput) { _ = try GenerationArchive(bytes: Array(bytes.dropLast(9))) }
            expectRecDBError(.malformedInput) { _ = try GenerationArchive(bytes: Array("not an archive".utf8)) }
            #expect(try db.model("als")?.generation == 1)
        }
    }

    @Test func anArchiveForAnotherCatalogIsNotFoundAndChangesNothing() throws {
        try TemporaryDirectory.with { first in
            try TemporaryDirectory.with { second in
                let trainer = try RefreshTests.makeDatabase(first)
                try trainer.refresh(RefreshTests.als, threads: 1)
                let archive = try trainer.exportGeneration(of: "als")
                let other = try second.createDatabase()
                _ = try other.write { w in try w.addEvent(EventInput("u0", "view", "i0", at: 0)) }
                expectRecDBError(.notFound) { _ = try other.installGeneration(archive) }
                #expect(try other.model("als") == nil)
            }
        }
    }

    @Test func kindsWithSideEffectsAreNotExported() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(try ModelSpec.named("popularity"))
            expectRecDBError(.invalidArgument) { _ = try db.exportGeneration(of: "popularity") }
            expectRecDBError(.notFound) { _ = try db.exportGeneration(of: "als") }
        }
    }
}
