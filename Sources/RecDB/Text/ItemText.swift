/// What the sentence encoder reads of an item: the one definition the `text` kind trains on, an item write re-encodes
/// and evaluation checks stored vectors against (the kinds themselves live in RecText).
public enum ItemText {
    /// The text an item is encoded from: title, description (its first 1,000 characters), category path and brand.
    public static func of(_ item: Item) -> String {
        var parts: [String] = []
        if let title = item.title, !title.isEmpty { parts.append(title) }
        if case .string(let description)? = item.attributes["description"], !description.isEmpty {
            parts.append(String(description.prefix(1000)))
        }
        if let category = item.category, !category.isEmpty {
            parts.append(category.split(separator: "/").joined(separator: " > "))
        }
        if case .string(let brand)? = item.attributes["brand"], !brand.isEmpty { parts.append(brand) }
        return parts.joined(separator: ". ")
    }

    /// The items with text that `stored` has no vector for: what the encoder must run on.
    package static func itemsToEncode(_ items: [Item], itemLimit: Int, stored: [UInt32: [Float]]) -> [Item] {
        items.filter { Int($0.internalID) < itemLimit && stored[$0.internalID] == nil && !of($0).isEmpty }
    }
}
