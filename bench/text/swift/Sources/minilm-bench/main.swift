// Usage: minilm-bench MODEL_FOLDER TEXTS_FILE OUT_FILE THREADS
//        minilm-bench --tokens MODEL_FOLDER TEXTS_FILE   (prints each text's token ids as a JSON array per line)
// TEXTS_FILE holds one JSON string per line. Encodes a short warm-up, then all texts once, timed; prints
// `{"seconds": S, "sentences": N}` and writes the embeddings to OUT_FILE as little-endian float32, row after row.
import Foundation
import RecML

let arguments = CommandLine.arguments
if arguments.count == 4 && arguments[1] == "--tokens" {
    let encoder = try MiniLMEncoder(folder: arguments[2])
    for line in try String(contentsOfFile: arguments[3], encoding: .utf8).split(separator: "\n") {
        let text = try JSONDecoder().decode(String.self, from: Data(line.utf8))
        print("[" + encoder.tokenize(text).map(String.init).joined(separator: ", ") + "]")
    }
    exit(0)
}
guard arguments.count == 5, let threads = Int(arguments[4]) else {
    FileHandle.standardError.write("usage: minilm-bench MODEL_FOLDER TEXTS_FILE OUT_FILE THREADS\n".data(using: .utf8)!)
    exit(2)
}
let encoder = try MiniLMEncoder(folder: arguments[1])
let lines = try String(contentsOfFile: arguments[2], encoding: .utf8).split(separator: "\n")
let texts = try lines.map { try JSONDecoder().decode(String.self, from: Data($0.utf8)) }
_ = encoder.encode(Array(texts.prefix(16)), threads: threads)
let clock = ContinuousClock()
var vectors: [[Float]] = []
let elapsed = clock.measure { vectors = encoder.encode(texts, threads: threads) }
var data = Data(capacity: texts.count * encoder.dimension * 4)
for vector in vectors { vector.withUnsafeBytes { data.append(contentsOf: $0) } }
try data.write(to: URL(fileURLWithPath: arguments[3]))
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
print(#"{"seconds": \#(seconds), "sentences": \#(texts.count)}"#)
