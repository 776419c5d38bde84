import Foundation
import Testing

@testable import RecML

@Suite(
    .enabled(if: MiniLMFixtures.modelTestsEnabled, MiniLMFixtures.skipMessage),
    .enabled(if: MiniLMFixtures.hasReference, "no ../shared/reference/minilm/reference.jsonl beside the package")
)
struct MiniLMReferenceTests {
    @Test func tokenIdsMatchReference() throws {
        let encoder = try MiniLMFixtures.encoder()
        let references = try MiniLMFixtures.references()
        #expect(references.count == 26)
        for reference in references {
            #expect(encoder.tokenize(reference.text) == reference.ids, "text \(reference.index)")
            #expect(encoder.tokenizer.tokens(reference.text) == reference.tokens, "text \(reference.index)")
        }
    }

    @Test func batchEmbeddingsMatchReference() throws {
        let encoder = try MiniLMFixtures.encoder()
        let references = try MiniLMFixtures.references()
        let vectors = encoder.encode(references.map(\.text), threads: 2)
        #expect(vectors.count == references.count)
        for (vector, reference) in zip(vectors, references) {
            #expect(vector.count == 384)
            let cosine = MiniLMFixtures.cosine(vector, reference.embedding)
            #expect(cosine >= 0.9999, "text \(reference.index): cosine \(cosine)")
            let difference = MiniLMFixtures.maxAbsDifference(vector, reference.embedding)
            #expect(difference < 1e-5, "text \(reference.index): max abs difference \(difference)")
        }
    }

    @Test func singleEmbeddingsMatchReference() throws {
        let encoder = try MiniLMFixtures.encoder()
        for reference in try MiniLMFixtures.references() {
            let vector = encoder.encode(reference.text)
            let cosine = MiniLMFixtures.cosine(vector, reference.embedding)
            #expect(cosine >= 0.9999, "text \(reference.index): cosine \(cosine)")
            let difference = MiniLMFixtures.maxAbsDifference(vector, reference.embedding)
            #expect(difference < 1e-5, "text \(reference.index): max abs difference \(difference)")
        }
    }
}

@Suite(.enabled(if: MiniLMFixtures.modelTestsEnabled, MiniLMFixtures.skipMessage))
struct MiniLMEncoderTests {
    @Test func embeddingsAreUnitLengthAndBatchOrderIndependent() throws {
        let encoder = try MiniLMFixtures.encoder()
        #expect(encoder.dimension == 384)
        #expect(encoder.maxTokens == 256)
        let texts = (0..<12).map { i in
            String(repeating: "stapler paper clip \(i) ", count: 1 + (i * 7) % 13)
        }
        let batch = encoder.encode(texts, threads: 2)
        let single = encoder.encode(texts, threads: 1)
        for (i, text) in texts.enumerated() {
            let norm = batch[i].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
            #expect(MiniLMFixtures.maxAbsDifference(batch[i], single[i]) < 1e-5)
            #expect(MiniLMFixtures.maxAbsDifference(batch[i], encoder.encode(text)) < 1e-5)
        }
        #expect(encoder.encode([String]()).isEmpty)
    }

    @Test func longTextIsCutTo256Tokens() throws {
        let encoder = try MiniLMFixtures.encoder()
        let ids = encoder.tokenize(String(repeating: "chair ", count: 400))
        #expect(ids.count == 256)
        #expect(ids.first == 101)
        #expect(ids.last == 102)
    }

    @Test func truncatedModelFileNamesFileAndTensor() throws {
        let source = ModelFiles.minilm.folder
        try MiniLMFixtures.withTemporaryFolder { folder in
            for file in ["vocab.txt", "sentence_bert_config.json"] {
                try FileManager.default.copyItem(atPath: source + "/" + file, toPath: folder + "/" + file)
            }
            let model = try Data(contentsOf: URL(fileURLWithPath: source + "/model.safetensors"))
            try model.prefix(model.count / 2).write(to: URL(fileURLWithPath: folder + "/model.safetensors"))
            do {
                _ = try MiniLMEncoder(folder: folder)
                Issue.record("a truncated model loaded")
            } catch let error as RecMLError {
                #expect(error.code == .corruptModel)
                #expect(error.description.contains(folder + "/model.safetensors tensor "))
                #expect(error.description.contains("truncated"))
            }
        }
    }
}

/// Load errors, on small made-up files: these need neither the model nor the reference.
@Suite struct MiniLMLoadErrorTests {
    /// Writes a folder with a five-token vocabulary, the sentence-transformers config and a safetensors file whose
    /// header lists `tensors` (name → shape), each backed by zeros, or by `dataBytes` bytes when given.
    static func makeModel(
        in folder: String, tensors: [(String, [Int])], dataBytes: Int? = nil, headerLengthOverride: UInt64? = nil
    ) throws {
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n".write(
            toFile: folder + "/vocab.txt", atomically: true, encoding: .utf8)
        try #"{"max_seq_length": 256, "do_lower_case": false}"#.write(
            toFile: folder + "/sentence_bert_config.json", atomically: true, encoding: .utf8)
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var offset = 0
        for (name, shape) in tensors {
            let bytes = shape.reduce(1, *) * 4
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var file = Data()
        var length = headerLengthOverride ?? UInt64(json.count)
        withUnsafeBytes(of: &length) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(Data(count: dataBytes ?? offset))
        try file.write(to: URL(fileURLWithPath: folder + "/model.safetensors"))
    }

    static func loadError(_ folder: String) throws -> RecMLError {
        do {
            _ = try MiniLMEncoder(folder: folder)
        } catch let error as RecMLError {
            return error
        }
        throw RecMLError(.invalidArgument, "the model loaded")
    }

    @Test func missingFolderIsMissingModel() throws {
        let error = try Self.loadError("/nonexistent/recml-minilm")
        #expect(error.code == .missingModel)
        #expect(error.description.contains("/nonexistent/recml-minilm/"))
    }

    @Test func truncatedHeaderIsCorrupt() throws {
        try MiniLMFixtures.withTemporaryFolder { folder in
            try Self.makeModel(in: folder, tensors: [], headerLengthOverride: 100_000)
            let error = try Self.loadError(folder)
            #expect(error.code == .corruptModel)
            #expect(error.description.contains(folder + "/model.safetensors"))
            #expect(error.description.contains("truncated"))
        }
    }

    @Test func tooShortFileIsCorrupt() throws {
        try MiniLMFixtures.withTemporaryFolder { folder in
            try Self.makeModel(in: folder, tensors: [])
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: folder + "/model.safetensors"))
            let error = try Self.loadError(folder)
            #expect(error.code == .corruptModel)
            #expect(error.description.contains(folder + "/model.safetensors"))
        }
    }

    @Test func missingTensorIsNamed() throws {
        try MiniLMFixtures.withTemporaryFolder { folder in
            try Self.makeModel(in: folder, tensors: [("embeddings.word_embeddings.weight", [5, 384])])
            let error = try Self.loadError(folder)
            #expect(error.code == .corruptModel)
            #expect(error.description.contains("tensor embeddings.position_embeddings.weight"))
            #expect(error.description.contains("missing"))
        }
    }

    @Test func wrongShapeIsNamed() throws {
        try MiniLMFixtures.withTemporaryFolder { folder in
            try Self.makeModel(
                in: folder,
                tensors: [
                    ("embeddings.word_embeddings.weight", [5, 384]),
                    ("embeddings.position_embeddings.weight", [512, 100]),
                ])
            let error = try Self.loadError(folder)
            #expect(error.code == .corruptModel)
            #expect(error.description.contains("tensor embeddings.position_embeddings.weight"))
            #expect(error.description.contains("[512, 384]"))
        }
    }

    @Test func dataPastEndOfFileIsNamed() throws {
        try MiniLMFixtures.withTemporaryFolder { folder in
            try Self.makeModel(in: folder, tensors: [("embeddings.word_embeddings.weight", [5, 384])], dataBytes: 100)
            let error = try Self.loadError(folder)
            #expect(error.code == .corruptModel)
            #expect(error.description.contains("tensor embeddings.word_embeddings.weight"))
            #expect(error.description.contains("truncated"))
        }
    }
}
