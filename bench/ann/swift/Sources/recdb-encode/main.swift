// Encodes texts with RecDB's own text model (MiniLM, run in Swift by RecML) for bench/ann's real384 set.
//
//   recdb-encode TEXTS OUT.npy [THREADS]
//
// TEXTS has one text per line (UTF-8); OUT.npy gets one unit-length row per line, N x 384 float32 (C order, .npy
// format 1.0). MiniLM must be installed (`recctl models install minilm`).
import BenchNPY
import Foundation
import RecML

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("recdb-encode: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: recdb-encode TEXTS OUT.npy [THREADS]") }
let threads = arguments.count > 3 ? Int(arguments[3]) ?? 2 : 2
let texts: [String]
do {
    texts = try String(contentsOfFile: arguments[1], encoding: .utf8).split(separator: "\n").map(String.init)
} catch {
    fail("cannot read \(arguments[1]): \(error)")
}
guard !texts.isEmpty else { fail("\(arguments[1]) has no texts") }
let encoder: MiniLMEncoder
do {
    encoder = try MiniLMEncoder.installed()
} catch {
    fail("\(error)")
}
let started = Date()
var body = [Float]()
body.reserveCapacity(texts.count * encoder.dimension)
let chunk = 512
for start in stride(from: 0, to: texts.count, by: chunk) {
    for row in encoder.encode(Array(texts[start..<min(start + chunk, texts.count)]), threads: threads) {
        body.append(contentsOf: row)
    }
}
let seconds = Date().timeIntervalSince(started)
do {
    try NPYArray.write(body, shape: [texts.count, texts.isEmpty ? 0 : body.count / texts.count], to: arguments[2])
} catch {
    fail("cannot write \(arguments[2]): \(error)")
}
FileHandle.standardError.write(Data(String(
    format: "recdb-encode: %d texts in %.1f s (%.0f texts/s, %d threads)\n", texts.count, seconds,
    Double(texts.count) / seconds, threads).utf8))
