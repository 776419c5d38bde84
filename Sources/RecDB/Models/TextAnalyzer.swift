/// Turns item text into index terms for the content model: lowercase words of letters and digits, English stop
/// words dropped, a light plural stemmer (`boots` → `boot`, `batteries` → `battery`), and whole-value terms for
/// categories (every prefix of the path), brand and tags so that they match only as a whole.
public struct TextAnalyzer: Sendable {
    /// Whether plural endings are stripped.
    public var stemming: Bool

    /// Creates an analyzer; stemming is on unless turned off (the content model takes it from its `stemming`
    /// parameter).
    public init(stemming: Bool = true) {
        self.stemming = stemming
    }

    /// The words of free text (title, description), in order.
    public func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        func flush() {
            if current.count >= 2 || current.first?.isNumber == true, !Self.stopWords.contains(current) {
                words.append(stemming ? Self.stem(current) : current)
            }
            current = ""
        }
        for character in text.lowercased() {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                flush()
            }
        }
        if !current.isEmpty { flush() }
        return words
    }

    /// Weighted terms of one item: title words count twice, description words once, every category prefix,
    /// the brand and each tag once as whole terms.
    public func terms(of item: Item) -> [String: Float] {
        var terms: [String: Float] = [:]
        if let title = item.title { for word in words(title) { terms[word, default: 0] += 2 } }
        if case .string(let description)? = item.attributes["description"] {
            for word in words(description) { terms[word, default: 0] += 1 }
        }
        if let path = item.category {
            for prefix in WellKnownAttribute.categoryPrefixes(path) { terms["category:" + prefix.lowercased(), default: 0] += 1 }
            // The leaf's words also match free text: "Cordless Telephones" ~ "cordless phone".
            if let leaf = path.split(separator: "/").last { for word in words(String(leaf)) { terms[word, default: 0] += 1 } }
        }
        if case .string(let brand)? = item.attributes["brand"], !brand.isEmpty {
            terms["brand:" + brand.lowercased(), default: 0] += 1
        }
        for tag in item.tags where !tag.isEmpty { terms["tag:" + tag.lowercased(), default: 0] += 1 }
        return terms
    }

    /// Strips English plural endings: `-ies` → `-y`, `-sses` → `-ss`, `-es` after s/x/z/ch/sh, and `-s` (not `-ss`,
    /// `-us`, `-is`).
    static func stem(_ word: String) -> String {
        guard word.count > 3, word.last == "s", word.first?.isLetter == true else { return word }
        if word.hasSuffix("ies") && word.count > 4 { return String(word.dropLast(3)) + "y" }
        if word.hasSuffix("sses") { return String(word.dropLast(2)) }
        if word.hasSuffix("xes") || word.hasSuffix("zes") || word.hasSuffix("ches") || word.hasSuffix("shes") {
            return String(word.dropLast(2))
        }
        if word.hasSuffix("ss") || word.hasSuffix("us") || word.hasSuffix("is") { return word }
        return String(word.dropLast())
    }

    static let stopWords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its", "of",
        "on", "or", "that", "the", "this", "to", "was", "were", "will", "with", "you", "your", "our", "we", "all",
        "can", "not", "but", "if", "into", "more", "most", "no", "so", "than", "then", "these", "they", "those", "up",
        "use", "used", "very", "which", "who", "also", "any", "each", "other", "such", "only", "one", "may", "out",
        "about", "over", "just", "do", "does", "per", "x",
    ]
}
