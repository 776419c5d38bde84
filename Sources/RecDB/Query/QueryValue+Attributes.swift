import RecWire

extension QueryValue {
    /// An attribute value as JSON: timestamps as ISO 8601 text.
    init(_ attribute: AttributeValue) {
        switch attribute {
        case .string(let text): self = .string(text)
        case .number(let value): self = .number(value)
        case .bool(let flag): self = .bool(flag)
        case .strings(let list): self = .array(list.map { .string($0) })
        case .timestamp(let time): self = .string(time.description)
        }
    }

    /// Attributes as a JSON object.
    init(_ attributes: Attributes) {
        self = .object(attributes.mapValues { QueryValue($0) })
    }
}
