// llm-bench: prompt-processing and generation speed of RecML's SmolLM runtime, plus greedy tokens for agreement
// checks. Prints one JSON object per line.
//
//   llm-bench speed --threads N --prompt-ids 1,2,3 --gen 128 --reps 3
//   llm-bench greedy --threads N --prompt-ids 1,2,3 --gen 48
//   llm-bench batch --threads N --count 10 --gen 32
import Foundation
import RecML

func argument(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return fallback
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

let mode = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "speed"
let threads = Int(argument("--threads", "2"))!
let gen = Int(argument("--gen", "128"))!
let reps = Int(argument("--reps", "3"))!
let path = argument("--model", "")
let model = try path.isEmpty ? SmolLM.installed(threads: threads) : SmolLM(path: path, threads: threads)
let promptIDs: [Int32] = argument("--prompt-ids", "").split(separator: ",").compactMap { Int32($0) }

switch mode {
case "speed":
    let vocab = model.model.config.vocab
    var logits = [Float](repeating: 0, count: vocab)
    var promptRates: [Double] = []
    var genRates: [Double] = []
    for rep in 0...reps {  // rep 0 is a warm-up
        let cache = model.makeCache(capacity: promptIDs.count + gen + 1)
        let t0 = now()
        try logits.withUnsafeMutableBufferPointer { try model.model.evaluate(promptIDs, cache: cache, logits: $0.baseAddress!) }
        let t1 = now()
        var token = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
        for _ in 0..<gen {
            try logits.withUnsafeMutableBufferPointer {
                try model.model.evaluate(token: token, cache: cache, logits: $0.baseAddress!)
                var best = 0
                for i in 1..<vocab where $0[i] > $0[best] { best = i }
                token = Int32(best)
            }
        }
        let t2 = now()
        if rep > 0 {
            promptRates.append(Double(promptIDs.count) / (t1 - t0))
            genRates.append(Double(gen) / (t2 - t1))
        }
    }
    print("{\"impl\":\"recml\",\"threads\":\(threads),\"prompt_tokens\":\(promptIDs.count),\"gen_tokens\":\(gen),"
        + "\"prompt_tok_per_s\":\(median(promptRates)),\"gen_tok_per_s\":\(median(genRates))}")
case "greedy":
    var options = GenerationOptions.greedy(maxTokens: gen)
    options.stopTokens = []
    let out = model.generate(prompt: promptIDs, options: options)
    print("{\"impl\":\"recml\",\"tokens\":[\(out.map(String.init).joined(separator: ","))]}")
case "batch":
    // N explanation sentences from one shared prompt prefix, decoded together.
    let count = Int(argument("--count", "10"))!
    let prefix = model.tokenizer.encode(model.chatPrompt(messages: [
        .system("You write one short sentence explaining a product recommendation to a shopper."),
    ], addGenerationPrompt: false))
    let items = ["Gone Girl", "an espresso machine", "running shoes", "a yoga mat", "a cast iron pan",
                 "noise-cancelling headphones", "a tent", "a fountain pen", "green tea", "a board game"]
    let suffixes = (0..<count).map { i in
        model.tokenizer.encode("<|im_start|>user\nThe shopper bought: \(items[i % items.count]). "
            + "Recommended: a matching accessory. Explain why in one sentence.<|im_end|>\n<|im_start|>assistant\n")
    }
    let t0 = now()
    let outs = try model.generateBatch(prefix: prefix, suffixes: suffixes, options: .greedy(maxTokens: gen))
    let t1 = now()
    let total = outs.map(\.count).reduce(0, +)
    for o in outs { FileHandle.standardError.write(Data((model.tokenizer.decode(o, skipSpecial: true) + "\n").utf8)) }
    print("{\"impl\":\"recml\",\"mode\":\"batch\",\"sequences\":\(count),\"tokens\":\(total),\"seconds\":\(t1 - t0)}")
case "refcheck":
    // Teacher-forced fidelity against llama.cpp's reference file: max |logit diff| over the top-5 tokens of the
    // first 3 steps, and the largest diff of the reference top-1 logit over all 48 steps.
    let reference = argument("--reference", "")
    let text = try String(contentsOfFile: reference, encoding: .utf8)
    var worstTop5: Float = 0
    for line in text.split(separator: "\n") {
        let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        let prompt = (obj["prompt_token_ids"] as! [Int]).map { Int32($0) }
        let gen = (obj["generated_token_ids"] as! [Int]).map { Int32($0) }
        let top5 = obj["top5_logits_first3"] as! [[[String: Any]]]
        let margins = obj["top1_top2_margin_per_step"] as! [Double]
        let cache = model.makeCache(capacity: 256)
        var logits = try model.logits(after: prompt, cache: cache)
        var caseTop5: Float = 0
        var argmaxAgree = 0, argmaxTotal = 0
        for step in 0..<48 {
            if step < 3 {
                var diffs: [String] = []
                for t in top5[step] {
                    let d = logits[t["id"] as! Int] - Float(t["logit"] as! Double)
                    diffs.append(String(format: "%+.3f", d))
                    caseTop5 = max(caseTop5, abs(d))
                }
                if CommandLine.arguments.contains("--verbose") { print("  step \(step): \(diffs.joined(separator: " "))") }
            }
            let best = logits.indices.max { logits[$0] < logits[$1] }!
            if margins[step] > 0.1 {
                argmaxTotal += 1
                if Int32(best) == gen[step] { argmaxAgree += 1 }
            }
            logits = try model.logits(after: [gen[step]], cache: cache)
        }
        worstTop5 = max(worstTop5, caseTop5)
        print("{\"case\":\"\(obj["id"]!)\",\"top5_max_abs_diff\":\(caseTop5),\"teacher_forced_argmax_agree\":\(argmaxAgree),\"of\":\(argmaxTotal)}")
    }
    print("{\"top5_max_abs_diff\":\(worstTop5)}")
default:
    FileHandle.standardError.write(Data("unknown mode \(mode)\n".utf8))
    exit(2)
}
