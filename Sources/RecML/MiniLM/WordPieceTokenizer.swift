import Foundation

/// BERT's uncased WordPiece tokenizer, as configured for all-MiniLM-L6-v2 (`BertNormalizer` with lowercasing,
/// `BertPreTokenizer`, `WordPiece` with the `##` prefix, template `[CLS] text [SEP]`).
///
/// Steps, in order: the special tokens `[PAD] [UNK] [CLS] [SEP] [MASK]` written literally in the text are kept
/// whole; NUL, U+FFFD and control characters are dropped and whitespace becomes a space; CJK ideographs are spaced
/// out; accents are stripped (NFD, then non-spacing marks dropped); text is lowercased; words are split at whitespace
/// and at punctuation (ASCII punctuation and Unicode `P*`); each word becomes its greedy longest-match-first pieces,
/// or `[UNK]` when it has none or is longer than 100 characters. The result is cut to `maxTokens` ids including
/// `[CLS]` and `[SEP]`.
///
/// ```swift
/// let tokenizer = try WordPieceTokenizer(vocabPath: folder + "/vocab.txt", maxTokens: 256)
/// tokenizer.tokenize("Café crème")   // [101, 7668, 13675, 21382, 102]: [CLS] cafe cr ##eme [SEP]
/// ```
public struct WordPieceTokenizer: Sendable {
    /// The most ids `tokenize` returns, `[CLS]` and `[SEP]` included.
    public let maxTokens: Int
    /// Number of entries in the vocabulary.
    public var vocabularySize: Int { vocabulary.count }
    /// Id of `[CLS]`, which starts every sequence.
    public let clsID: Int32
    /// Id of `[SEP]`, which ends every sequence.
    public let sepID: Int32
    /// Id of `[UNK]`, for words that have no pieces.
    public let unknownID: Int32

    /// Words longer than this many characters become `[UNK]`.
    public static let maxCharactersPerWord = 100

    private let vocabulary: VocabularyTable
    private static let specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    /// Builds a tokenizer from the vocabulary, one token per entry, the id being the index.
    /// Throws `corruptModel` when `[CLS]`, `[SEP]` or `[UNK]` is missing, `invalidArgument` when `maxTokens` < 2.
    public init(vocabulary tokens: [String], maxTokens: Int, source: String = "vocabulary") throws {
        guard maxTokens >= 2 else {
            throw RecMLError(.invalidArgument, "maxTokens must be at least 2, got \(maxTokens)", location: source)
        }
        let table = VocabularyTable(tokens)
        func id(_ token: String) throws -> Int32 {
            guard let id = table.id(of: token) else {
                throw RecMLError(.corruptModel, "vocabulary has no \(token) token", location: source)
            }
            return id
        }
        self.vocabulary = table
        self.maxTokens = maxTokens
        self.clsID = try id("[CLS]")
        self.sepID = try id("[SEP]")
        self.unknownID = try id("[UNK]")
    }

    /// Reads `vocab.txt` (one token per line, the line number being the id).
    /// Throws `missingModel` when the file is absent and `corruptModel` when it lacks the special tokens.
    public init(vocabPath: String, maxTokens: Int) throws {
        let file = try MappedFile(path: vocabPath)
        let text = String(decoding: file.bytes, as: UTF8.self)
        var tokens = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if tokens.last == "" { tokens.removeLast() }
        try self.init(vocabulary: tokens, maxTokens: maxTokens, source: vocabPath)
    }

    /// The token of an id, or nil when out of range.
    public func token(of id: Int32) -> String? { vocabulary.token(Int(id)) }

    /// The id of a token, or nil when it is not in the vocabulary.
    public func id(of token: String) -> Int32? { vocabulary.id(of: token) }

    /// The ids of `text`: `[CLS]`, at most `maxTokens - 2` word pieces, `[SEP]`.
    public func tokenize(_ text: String) -> [Int32] {
        var ids: [Int32] = [clsID]
        ids.reserveCapacity(min(maxTokens, text.utf8.count + 2))
        let limit = maxTokens - 1
        var scratch = Scratch()
        for segment in Self.splitSpecialTokens(text) {
            if ids.count >= limit { break }
            switch segment {
            case .special(let token):
                ids.append(vocabulary.id(of: token) ?? unknownID)
            case .text(let raw):
                appendPieces(of: raw, to: &ids, limit: limit, scratch: &scratch)
            }
        }
        ids.append(sepID)
        return ids
    }

    /// The word pieces of `text` as strings (with `[CLS]` and `[SEP]`), for inspection and tests.
    public func tokens(_ text: String) -> [String] {
        tokenize(text).map { token(of: $0) ?? "[UNK]" }
    }

    // MARK: - Special tokens

    private enum Segment {
        case text(Substring.UnicodeScalarView)
        case special(String)
    }

    /// Splits out the special tokens written literally in the raw text; they are matched on the raw scalars, before
    /// normalisation.
    private static func splitSpecialTokens(_ text: String) -> [Segment] {
        let scalars = text.unicodeScalars
        guard text.utf8.contains(UInt8(ascii: "[")) else { return [.text(text[...].unicodeScalars)] }
        var segments: [Segment] = []
        var start = scalars.startIndex
        var index = scalars.startIndex
        while index < scalars.endIndex {
            if scalars[index] == "[",
                let token = specialTokens.first(where: { scalars[index...].starts(with: $0.unicodeScalars) })
            {
                if start < index { segments.append(.text(text[start..<index].unicodeScalars)) }
                segments.append(.special(token))
                index = scalars.index(index, offsetBy: token.unicodeScalars.count)
                start = index
            } else {
                index = scalars.index(after: index)
            }
        }
        if start < scalars.endIndex { segments.append(.text(text[start..<scalars.endIndex].unicodeScalars)) }
        return segments
    }

    // MARK: - Normalisation and words

    /// Reused buffers for one `tokenize` call.
    private struct Scratch {
        var scalars: [Unicode.Scalar] = []
        var word: [Unicode.Scalar] = []
        var bytes: [UInt8] = []
        var offsets: [Int] = []
    }

    private func appendPieces(
        of raw: Substring.UnicodeScalarView, to ids: inout [Int32], limit: Int, scratch: inout Scratch
    ) {
        Self.normalize(raw, into: &scratch.scalars)
        scratch.word.removeAll(keepingCapacity: true)
        for scalar in scratch.scalars {
            if ids.count >= limit { return }
            if scalar.properties.isWhitespace {
                flushWord(&scratch, to: &ids, limit: limit)
            } else if Self.isPunctuation(scalar) {
                flushWord(&scratch, to: &ids, limit: limit)
                scratch.word.append(scalar)
                flushWord(&scratch, to: &ids, limit: limit)
            } else {
                scratch.word.append(scalar)
            }
        }
        flushWord(&scratch, to: &ids, limit: limit)
    }

    /// `BertNormalizer`: clean text, space out CJK, strip accents, lowercase.
    private static func normalize(_ raw: Substring.UnicodeScalarView, into out: inout [Unicode.Scalar]) {
        out.removeAll(keepingCapacity: true)
        var cleaned = String.UnicodeScalarView()
        var ascii = true
        for scalar in raw {
            let value = scalar.value
            if value == 0 || value == 0xFFFD || isControl(scalar) { continue }
            if isWhitespace(scalar) {
                cleaned.append(" ")
            } else if isCJK(value) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                if value >= 0x80 { ascii = false }
                cleaned.append(scalar)
            }
        }
        if ascii {
            for scalar in cleaned {
                let value = scalar.value
                if value >= 0x41 && value <= 0x5A {
                    out.append(Unicode.Scalar(UInt8(value + 32)))
                } else {
                    out.append(scalar)
                }
            }
            return
        }
        let decomposed = String(cleaned).decomposedStringWithCanonicalMapping
        for scalar in decomposed.unicodeScalars {
            let properties = scalar.properties
            if properties.generalCategory == .nonspacingMark && inReferenceTables(scalar) { continue }
            if properties.changesWhenLowercased {
                out.append(contentsOf: properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
    }

    private static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D, 0x20: return true
        case 0..<0x80: return false
        default: return scalar.properties.isWhitespace
        }
    }

    /// Whether the reference tokenizer's category tables know `scalar`. Its tests for non-spacing marks, controls
    /// and punctuation use Unicode 8.0 data, so a character added later (U+061D, U+2E43, U+1DF9...) counts as
    /// unassigned there: it is neither dropped nor split off but stays in its word, which usually becomes `[UNK]`.
    /// (Whitespace, lowercasing and NFD use current Unicode data there, as here.)
    private static func inReferenceTables(_ scalar: Unicode.Scalar) -> Bool {
        guard let age = scalar.properties.age else { return false }
        return age.major < 8 || (age.major == 8 && age.minor == 0)
    }

    /// Control in BERT's sense: categories Cc, Cf, Co, except tab, newline and carriage return. Unassigned code points
    /// (Cn) are kept, as the reference tokenizer keeps them (they end up in `[UNK]` words).
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: return false
        case 0x20..<0x7F: return false
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .privateUse, .surrogate: return inReferenceTables(scalar)
            default: return false
            }
        }
    }

    /// The CJK ideograph blocks BERT spaces out.
    private static func isCJK(_ value: UInt32) -> Bool {
        switch value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// ASCII punctuation and symbols, and Unicode categories P*.
    private static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (value >= 33 && value <= 47) || (value >= 58 && value <= 64) || (value >= 91 && value <= 96)
                || (value >= 123 && value <= 126)
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return inReferenceTables(scalar)
        default:
            return false
        }
    }

    // MARK: - WordPiece

    /// Appends the pieces of the word in `scratch.word` (greedy longest match first) and empties it.
    private func flushWord(_ scratch: inout Scratch, to ids: inout [Int32], limit: Int) {
        let count = scratch.word.count
        guard count > 0 else { return }
        defer { scratch.word.removeAll(keepingCapacity: true) }
        if count > Self.maxCharactersPerWord {
            ids.append(unknownID)
            return
        }
        scratch.bytes.removeAll(keepingCapacity: true)
        scratch.offsets.removeAll(keepingCapacity: true)
        for scalar in scratch.word {
            scratch.offsets.append(scratch.bytes.count)
            scratch.bytes.append(contentsOf: UTF8.encode(scalar)!)
        }
        scratch.offsets.append(scratch.bytes.count)
        let mark = ids.count
        let found: Bool = scratch.bytes.withUnsafeBufferPointer { bytes in
            var start = 0
            while start < count {
                var end = count
                var match: Int32? = nil
                while start < end {
                    let piece = UnsafeBufferPointer(rebasing: bytes[scratch.offsets[start]..<scratch.offsets[end]])
                    if let id = vocabulary.id(of: piece, continuation: start > 0) {
                        match = id
                        break
                    }
                    end -= 1
                }
                guard let match else { return false }
                ids.append(match)
                start = end
            }
            return true
        }
        if !found {
            ids.removeSubrange(mark...)
            ids.append(unknownID)
        }
        if ids.count > limit { ids.removeSubrange(limit...) }
    }
}

/// An open-addressing hash table from token bytes to id, looked up without allocating (pieces are byte slices of
/// the word; continuation pieces are looked up as `##` + bytes).
private final class VocabularyTable: Sendable {
    private let bytes: [UInt8]
    private let starts: [Int]
    private let slots: [Int32]
    private let mask: Int
    let count: Int

    init(_ tokens: [String]) {
        var bytes: [UInt8] = []
        var starts: [Int] = [0]
        for token in tokens {
            bytes.append(contentsOf: token.utf8)
            starts.append(bytes.count)
        }
        var capacity = 16
        while capacity < tokens.count * 2 { capacity <<= 1 }
        var slots = [Int32](repeating: -1, count: capacity)
        let mask = capacity - 1
        bytes.withUnsafeBufferPointer { all in
            for id in 0..<tokens.count {
                let token = UnsafeBufferPointer(rebasing: all[starts[id]..<starts[id + 1]])
                var slot = Self.hash(token, continuation: false) & mask
                while slots[slot] >= 0 {
                    let other = Int(slots[slot])
                    // A repeated token keeps the last id, as the reference tokenizer does.
                    if all[starts[other]..<starts[other + 1]].elementsEqual(token) { break }
                    slot = (slot + 1) & mask
                }
                slots[slot] = Int32(id)
            }
        }
        self.bytes = bytes
        self.starts = starts
        self.slots = slots
        self.mask = mask
        self.count = tokens.count
    }

    private static let prefix: [UInt8] = [UInt8(ascii: "#"), UInt8(ascii: "#")]

    private static func hash(_ piece: UnsafeBufferPointer<UInt8>, continuation: Bool) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        if continuation {
            for _ in 0..<2 { h = (h ^ 0x23) &* 0x100_0000_01b3 }
        }
        for byte in piece { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    func id(of piece: UnsafeBufferPointer<UInt8>, continuation: Bool) -> Int32? {
        let extra = continuation ? 2 : 0
        var slot = Self.hash(piece, continuation: continuation) & mask
        return bytes.withUnsafeBufferPointer { all in
            while true {
                let id = slots[slot]
                if id < 0 { return nil }
                let start = starts[Int(id)]
                let end = starts[Int(id) + 1]
                if end - start == piece.count + extra {
                    var equal = true
                    if continuation && (all[start] != 0x23 || all[start + 1] != 0x23) { equal = false }
                    if equal {
                        for i in 0..<piece.count where all[start + extra + i] != piece[i] {
                            equal = false
                            break
                        }
                    }
                    if equal { return id }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    func id(of token: String) -> Int32? {
        var token = token
        return token.withUTF8 { id(of: $0, continuation: false) }
    }

    func token(_ id: Int) -> String? {
        guard id >= 0, id < count else { return nil }
        return String(decoding: bytes[starts[id]..<starts[id + 1]], as: UTF8.self)
    }
}
