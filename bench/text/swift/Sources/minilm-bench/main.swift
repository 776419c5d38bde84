// Usage: minilm-bench MODEL_FOLDER TEXTS_FILE OUT_FILE THREADS
// TEXTS_FILE holds one JSON string per line. Encodes a short warm-up, then all texts once, timed; prints
// `{"seconds": S, "sentences": N}` and writes the embeddings to OUT_FILE as little-endian float32, row after row.
import Foundation
import RecML

let arguments = CommandLine.arguments
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
