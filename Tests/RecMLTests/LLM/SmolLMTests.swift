import Foundation
import Testing
@testable import RecML

/// Agreement with llama.cpp on SmolLM2-135M-Instruct Q4_1 (skipped without the model unless `CI` is set, where a
/// missing model fails).
@Suite(
    .serialized, .enabled(if: SmolLMReference.available, "reference files not found"),
    .enabled(if: SmolLMReference.modelTestsEnabled, "smollm2 not installed (recctl models install smollm2)"))
struct SmolLMTests {
    @Test func referenceCasesLoad() {
        #expect(SmolLMReference.cases.count == 5)
    }

    @Test func chatPromptAndTokenIDsMatchReference() throws {
        let model = try SmolLMReference.model()
        for c in SmolLMReference.cases {
            let prompt = model.chatPrompt(messages: c.chatMessages, addGenerationPrompt: true)
            #expect(prompt == c.prompt, "\(c.id): template")
            #expect(model.tokenizer.encode(prompt) == c.prompt_token_ids, "\(c.id): token ids")
            #expect(model.tokenizer.decode(c.prompt_token_ids) == c.prompt, "\(c.id): decode")
        }
    }

    @Test func tokenizerRoundTripsAndSplitsDigitsAndSpecials() throws {
        let tok = try SmolLMReference.model().tokenizer
        let samples = [
            "Hello  world\n\n  indented\tx ", "naïve café 日本語 🙂 ünïcödé", "it's 2024! They'll've $3.50 (USB-C)",
            "   leading and trailing   ", "a\r\nb", "",
        ]
        for text in samples { #expect(tok.decode(tok.encode(text)) == text, "round trip of \(text.debugDescription)") }
        #expect(tok.encode("12345").count == 5)
        #expect(tok.encode("<|im_start|>user") == [1] + tok.encode("user"))
        let plain = tok.encode("<|im_start|>", parseSpecial: false)
        #expect(!plain.contains(1) && plain.count > 1)
        #expect(tok.decode(plain) == "<|im_start|>")
        #expect(tok.decode([1, 2], skipSpecial: true) == "")
    }

    @Test func greedyTokensMatchLlamaCppUntilLowMargin() throws {
        let model = try SmolLMReference.model()
        for c in SmolLMReference.cases {
            var options = GenerationOptions.greedy(maxTokens: 48)
            options.stopTokens = []
            let out = model.generate(prompt: c.prompt_token_ids, options: options)
            let confident = c.confidentSteps()
            let agreeing = zip(out, c.generated_token_ids).prefix { $0 == $1 }.count
            #expect(agreeing >= confident, "\(c.id): agrees for \(agreeing) steps, reference confident for \(confident)")
            #expect(out.count == 48)
        }
    }

    @Test func top5LogitsOfFirstThreeStepsWithinOne() throws {
        let model = try SmolLMReference.model()
        for c in SmolLMReference.cases {
            let cache = model.makeCache(capacity: 256)
            var logits = try model.logits(after: c.prompt_token_ids, cache: cache)
            for step in 0..<3 {
                for top in c.top5_logits_first3[step] {
                    let diff = abs(logits[Int(top.id)] - top.logit)
                    #expect(diff <= 1.0, "\(c.id) step \(step) token \(top.id): \(logits[Int(top.id)]) vs \(top.logit)")
                }
                logits = try model.logits(after: [c.generated_token_ids[step]], cache: cache)
            }
        }
    }

    @Test func embeddingDequantisationMatchesSpotValues() throws {
        let model = try SmolLMReference.model()
        let gguf = model.model.gguf
        var row = [Float](repeating: 0, count: 576)
        row.withUnsafeMutableBufferPointer { gguf.dequantizeRow(model.model.tokenEmbedding, row: 1, into: $0.baseAddress!) }
        #expect(Array(row[0..<4]) == [-0.0238037109375, -0.015869140625, -0.0396728515625, 0.015869140625])
        let q = try gguf.tensor("blk.0.attn_q.weight")
        row.withUnsafeMutableBufferPointer { gguf.dequantizeRow(q, row: 0, into: $0.baseAddress!) }
        #expect(Array(row[0..<4]) == [-0.0963134765625, 0.1573486328125, -0.0963134765625, -0.73046875])
    }

    @Test func batchedContinuationsMatchSingleSequenceGreedy() throws {
        let model = try SmolLMReference.model()
        let c = SmolLMReference.cases[0]
        var options = GenerationOptions.greedy(maxTokens: 12)
        options.stopTokens = []
        let single = model.generate(prompt: c.prompt_token_ids, options: options)
        let split = c.prompt_token_ids.count - 3
        let prefix = Array(c.prompt_token_ids[..<split]), suffix = Array(c.prompt_token_ids[split...])
        let batch = try model.generateBatch(prefix: prefix, suffixes: [suffix, suffix, []], options: options)
        #expect(batch[0] == single)
        #expect(batch[1] == single)
        #expect(batch[2].count == 12)
    }

    /// The stop condition is asked before every layer, prompt included, so a long prompt stops within one layer.
    @Test func shouldStopInterruptsThePromptPassWithinALayer() throws {
        let model = try SmolLMReference.model()
        let prompt = SmolLMReference.cases[0].prompt_token_ids
        var asked = 0
        #expect {
            try model.generateBatch(
                prefix: prompt, suffixes: [[], []], options: .greedy(maxTokens: 8),
                shouldStop: { asked += 1; return asked > 3 })
        } throws: { ($0 as? RecMLError)?.code == .interrupted }
        #expect(asked == 4, "stopped at the fourth layer of the prompt's pass")
        // The model is still usable afterwards: the interrupted caches were the request's own.
        #expect(model.generate(prompt: prompt, options: .greedy(maxTokens: 4)).count > 0)
    }

    @Test func samplingIsSeededAndStopsAtEndOfTurn() throws {
        let model = try SmolLMReference.model()
        let prompt = SmolLMReference.cases[4].prompt_token_ids
        var options = GenerationOptions(maxTokens: 40, temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.1)
        options.seed = 7
        var streamed: [Int32] = []
        let a = model.generate(prompt: prompt, options: options) { streamed.append($0); return true }
        let b = model.generate(prompt: prompt, options: options)
        #expect(a == b)
        #expect(streamed == a)
        if let last = a.last, a.count < 40 { #expect(model.defaultStopTokens.contains(last)) }
        let plain = GenerationOptions(maxTokens: 8, temperature: 1.0, seed: 3)
        #expect(model.generate(prompt: prompt, options: plain) == model.generate(prompt: prompt, options: plain))
        let stopped = model.generate(prompt: prompt, options: .greedy(maxTokens: 48))
        #expect(stopped.last == 2)
        #expect(stopped.count == SmolLMReference.cases[4].first_eos_index + 1)
    }

    @Test func beamSearchReturnsAFinishedSentence() throws {
        let model = try SmolLMReference.model()
        let prompt = SmolLMReference.cases[3].prompt_token_ids
        let options = GenerationOptions(maxTokens: 40, beamWidth: 3, lengthPenalty: 1.0)
        let out = model.generate(prompt: prompt, options: options)
        #expect(!out.isEmpty)
        #expect(out.count <= 40)
        let text = model.tokenizer.decode(out, skipSpecial: true)
        #expect(!text.isEmpty)
    }

    @Test func truncatedModelFileIsCorruptModel() throws {
        let source = try ModelFiles.smollm2.path(of: SmolLM.fileName)
        let full = try MappedFile(path: source)
        for cut in [100, 1_000_000, 50_000_000] {
            let path = NSTemporaryDirectory() + "recml-truncated-\(getpid())-\(cut).gguf"
            try Data(full.bytes[0..<cut]).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                _ = try GGUFFile(path: path)
                Issue.record("truncated at \(cut) was accepted")
            } catch let error as RecMLError {
                #expect(error.code == .corruptModel)
                #expect(error.description.contains(path))
                #expect(error.description.contains("truncated"))
            }
        }
    }
}
