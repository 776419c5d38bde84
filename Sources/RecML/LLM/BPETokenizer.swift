import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// GPT-2 style byte-level BPE tokenizer built from a GGUF file's `tokenizer.ggml.*` metadata.
///
/// Text is first split on special (CONTROL / USER_DEFINED) tokens such as `<|im_start|>`, which become single ids;
/// the rest is pre-tokenized (for `pre = smollm`: every digit on its own, then GPT-2's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`), mapped byte by byte to GPT-2's
/// printable characters and merged by merge rank. No BOS is added (`add_bos_token = false`).
///
/// ```swift
/// let ids = model.tokenizer.encode("<|im_start|>user\nHi<|im_end|>")
/// let text = model.tokenizer.decode(ids)
/// ```
public final class BPETokenizer: Sendable {
    /// Token strings as stored (GPT-2 byte-mapped, `Ġ` for space).
    public let tokens: [String]
    /// Token types (1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte).
    public let tokenTypes: [Int]
    /// Beginning-of-sequence, end-of-sequence and unknown ids from the metadata.
    public let bosID: Int32, eosID: Int32, unknownID: Int32
    /// The id of `<|im_end|>` when the vocabulary has it (end of a chat turn).
    public let endOfTurnID: Int32?
    /// The pre-tokenizer name (`tokenizer.ggml.pre`).
    public let preTokenizer: String

    private let tokenIDs: [String: Int32]
    private let tokenBytes: [[UInt8]]
    private let byteToken: [Int32]  // byte value -> id of its one-character token
    private let merges: [UInt64: (rank: Int32, result: Int32)]
    private let specials: [(bytes: [UInt8], id: Int32)]  // longest first
    private let splitDigits: Bool
    /// Pieces already split, shared by every thread that encodes.
    private let cache = Mutex<[String: [Int32]]>([:])

    /// Builds the tokenizer from `gguf`'s metadata. Throws `unsupported` for a tokenizer model other than `gpt2`.
    public init(gguf: GGUFFile) throws {
        let model = try gguf.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw RecMLError(.unsupported, "tokenizer model '\(model)' (only gpt2 byte-level BPE)", location: gguf.path)
        }
        preTokenizer = (try? gguf.string("tokenizer.ggml.pre")) ?? "default"
        splitDigits = ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone"].contains(preTokenizer)
        tokens = try gguf.strings("tokenizer.ggml.tokens")
        tokenTypes = (try? gguf.ints("tokenizer.ggml.token_type")) ?? Array(repeating: 1, count: tokens.count)
        guard tokenTypes.count == tokens.count else {
            throw RecMLError(.corruptModel, "token_type has \(tokenTypes.count) entries for \(tokens.count) tokens",
                             location: gguf.path)
        }
        bosID = Int32((try? gguf.uint("tokenizer.ggml.bos_token_id")) ?? 1)
        eosID = Int32((try? gguf.uint("tokenizer.ggml.eos_token_id")) ?? 2)
        unknownID = Int32((try? gguf.uint("tokenizer.ggml.unknown_token_id")) ?? 0)

        // GPT-2's byte <-> printable character mapping.
        var byteToChar = [Unicode.Scalar](repeating: " ", count: 256)
        var charToByte: [UInt32: UInt8] = [:]
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            let scalar = Unicode.Scalar(printable ? UInt32(b) : next)!
            if !printable { next += 1 }
            byteToChar[b] = scalar
            charToByte[scalar.value] = UInt8(b)
        }
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(tokens.count)
        var specials: [(bytes: [UInt8], id: Int32)] = []
        for (i, token) in tokens.enumerated() {
            ids[token] = Int32(i)
            let type = tokenTypes[i]
            if type == 3 || type == 4 {
                bytes.append(Array(token.utf8))
                specials.append((Array(token.utf8), Int32(i)))
            } else {
                bytes.append(token.unicodeScalars.map { charToByte[$0.value] ?? 0x3F })
            }
        }
        tokenIDs = ids
        tokenBytes = bytes
        self.specials = specials.sorted { $0.bytes.count > $1.bytes.count }
        endOfTurnID = ids["<|im_end|>"]
        var byteToken = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { byteToken[b] = ids[String(Character(byteToChar[b]))] ?? -1 }
        self.byteToken = byteToken
        let mergeList = try gguf.strings("tokenizer.ggml.merges")
        var merges: [UInt64: (rank: Int32, result: Int32)] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, merge) in mergeList.enumerated() {
            guard let space = merge.firstIndex(of: " ") else { continue }
            let left = String(merge[..<space]), right = String(merge[merge.index(after: space)...])
            guard let l = ids[left], let r = ids[right], let m = ids[left + right] else { continue }
            merges[UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))] = (Int32(rank), m)
        }
        self.merges = merges
    }

    /// Number of tokens in the vocabulary.
    public var vocabularySize: Int { tokens.count }

    /// The id of a token string exactly as stored, if any.
    public func id(of token: String) -> Int32? { tokenIDs[token] }

    /// Encodes `text`. When `parseSpecial` is true (the default) special tokens written in the text, such as
    /// `<|im_start|>`, become their single ids; otherwise they are tokenized as plain text. Never adds BOS.
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int32] {
        var out: [Int32] = []
        let utf8 = Array(text.utf8)
        var start = 0
        var i = 0
        if parseSpecial {
            while i < utf8.count {
                if utf8[i] == UInt8(ascii: "<"), let special = specialAt(utf8, i) {
                    if start < i { encodeText(utf8[start..<i], into: &out) }
                    out.append(special.id)
                    i += special.bytes.count
                    start = i
                } else {
                    i += 1
                }
            }
        }
        if start < utf8.count { encodeText(utf8[start...], into: &out) }
        return out
    }

    private func specialAt(_ utf8: [UInt8], _ i: Int) -> (bytes: [UInt8], id: Int32)? {
        for special in specials where special.bytes.count <= utf8.count - i {
            var match = true
            for j in 0..<special.bytes.count where utf8[i + j] != special.bytes[j] {
                match = false
                break
            }
            if match { return special }
        }
        return nil
    }

    /// The bytes of one token (special tokens render as their text).
    public func bytes(of id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < tokenBytes.count else { return [] }
        return tokenBytes[Int(id)]
    }

    /// Decodes ids to text (invalid UTF-8 is repaired). With `skipSpecial`, CONTROL tokens are left out.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if skipSpecial, id >= 0, Int(id) < tokenTypes.count, tokenTypes[Int(id)] == 3 { continue }
            bytes += self.bytes(of: id)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: - Pre-tokenization and BPE

    private func encodeText(_ bytes: ArraySlice<UInt8>, into out: inout [Int32]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let scalars = Array(text.unicodeScalars)
        var pieceStart = 0
        func flush(_ end: Int) {
            if pieceStart < end { gpt2Split(scalars, pieceStart, end, into: &out) }
        }
        if splitDigits {
            for (i, s) in scalars.enumerated() where Self.isNumber(s) {
                flush(i)
                gpt2Split(scalars, i, i + 1, into: &out)
                pieceStart = i + 1
            }
        }
        flush(scalars.count)
    }

    /// Splits scalars[from..<to] with GPT-2's pattern and BPE-encodes each piece.
    private func gpt2Split(_ s: [Unicode.Scalar], _ from: Int, _ to: Int, into out: inout [Int32]) {
        var i = from
        while i < to {
            let c = s[i]
            var j = i + 1
            if c == "'" && i + 1 < to {
                let n = s[i + 1]
                if n == "s" || n == "t" || n == "m" || n == "d" {
                    j = i + 2
                } else if i + 2 < to, (n == "r" && s[i + 2] == "e") || (n == "v" && s[i + 2] == "e")
                    || (n == "l" && s[i + 2] == "l")
                {
                    j = i + 3
                }
                if j > i + 1 {
                    bpe(s[i..<j], into: &out)
                    i = j
                    continue
                }
            }
            let lead = (c == " " && i + 1 < to) ? i + 1 : i
            let k = s[lead]
            if Self.isLetter(k) {
                j = lead + 1
                while j < to && Self.isLetter(s[j]) { j += 1 }
            } else if Self.isNumber(k) {
                j = lead + 1
                while j < to && Self.isNumber(s[j]) { j += 1 }
            } else if !Self.isSpace(k) {
                j = lead + 1
                while j < to && !Self.isSpace(s[j]) && !Self.isLetter(s[j]) && !Self.isNumber(s[j]) { j += 1 }
            } else {
                // whitespace run: \s+(?!\S) leaves the last space for the next piece, else \s+
                j = i + 1
                while j < to && Self.isSpace(s[j]) { j += 1 }
                if j < to && j - i > 1 { j -= 1 }
            }
            bpe(s[i..<j], into: &out)
            i = j
        }
    }

    private func bpe(_ piece: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        var text = ""
        text.unicodeScalars.append(contentsOf: piece)
        if let cached = cache.withLock({ $0[text] }) {
            out += cached
            return
        }
        var parts: [Int32] = []
        for byte in text.utf8 { parts.append(byteToken[Int(byte)] >= 0 ? byteToken[Int(byte)] : unknownID) }
        while parts.count > 1 {
            var best = -1
            var bestRank = Int32.max
            var bestResult: Int32 = 0
            for p in 0..<parts.count - 1 {
                let key = UInt64(UInt32(bitPattern: parts[p])) << 32 | UInt64(UInt32(bitPattern: parts[p + 1]))
                if let m = merges[key], m.rank < bestRank {
                    bestRank = m.rank
                    best = p
                    bestResult = m.result
                }
            }
            if best < 0 { break }
            parts[best] = bestResult
            parts.remove(at: best + 1)
        }
        cache.withLock { cache in
            if cache.count < 100_000 { cache[text] = parts }
        }
        out += parts
    }

    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            let v = s.value
            return (v >= 65 && v <= 90) || (v >= 97 && v <= 122)
        }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII { return s.value >= 48 && s.value <= 57 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII { return s == " " || (s.value >= 9 && s.value <= 13) }
        return s.properties.isWhitespace
    }
}
