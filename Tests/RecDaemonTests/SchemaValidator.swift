import Foundation

/// Checks JSON values against the subset of JSON Schema that `Schemas/` uses: type, const, enum, required,
/// properties, additionalProperties (false), items, minProperties, minimum, oneOf, anyOf and local `$ref`s.
struct SchemaValidator {
    let root: [String: Any]

    init(file: String) throws {
        root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
    }

    /// `Schemas/NAME` of this package.
    static func schemaPath(_ name: String, file: String = #filePath) -> String {
        URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Schemas/\(name)").path
    }

    /// The problems of `value` against the schema at `pointer` (the root when nil); empty when it conforms.
    func problems(_ value: Any, against pointer: String? = nil) -> [String] {
        let schema = pointer.map(resolve) ?? root
        return check(value, schema, at: "$")
    }

    private func resolve(_ reference: String) -> [String: Any] {
        var node: Any = root
        for part in reference.split(separator: "/").dropFirst() { node = (node as! [String: Any])[String(part)]! }
        return node as! [String: Any]
    }

    private func typeName(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case is Bool where !(value is Int && String(cString: (value as! NSNumber).objCType) != "c"):
            return "boolean"
        case let number as NSNumber:
            if String(cString: number.objCType) == "c" { return "boolean" }
            return number.doubleValue == number.doubleValue.rounded() ? "integer" : "number"
        case is String: return "string"
        case is [Any]: return "array"
        case is [String: Any]: return "object"
        default: return "unknown"
        }
    }

    private func same(_ a: Any, _ b: Any) -> Bool {
        typeName(a) == typeName(b) && "\(a)" == "\(b)"
    }

    private func check(_ value: Any, _ schema: [String: Any], at path: String) -> [String] {
        if let reference = schema["$ref"] as? String {
            var problems = check(value, resolve(reference), at: path)
            var rest = schema
            rest["$ref"] = nil
            if !rest.isEmpty { problems += check(value, rest, at: path) }
            return problems
        }
        var problems: [String] = []
        let actual = typeName(value)
        if let type = schema["type"] {
            let allowed = (type as? [String]) ?? [type as! String]
            let matches = allowed.contains(actual) || (actual == "integer" && allowed.contains("number"))
            if !matches { return ["\(path): \(actual) is not \(allowed)"] }
        }
        if let constant = schema["const"], !same(constant, value) { problems.append("\(path): not \(constant)") }
        if let options = schema["enum"] as? [Any], !options.contains(where: { same($0, value) }) {
            problems.append("\(path): \(value) not in \(options)")
        }
        if let minimum = schema["minimum"] as? Double, let number = value as? Double, number < minimum {
            problems.append("\(path): \(number) < \(minimum)")
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path): missing \(key)")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, child) in object {
                if let childSchema = properties[key] as? [String: Any] {
                    problems += check(child, childSchema, at: "\(path).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(path): unexpected \(key)")
                }
            }
            if let minimum = schema["minProperties"] as? Int, object.count < minimum {
                problems.append("\(path): fewer than \(minimum) properties")
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, element) in array.enumerated() { problems += check(element, items, at: "\(path)[\(index)]") }
        }
        if let options = schema["oneOf"] as? [[String: Any]] {
            let matching = options.filter { check(value, $0, at: path).isEmpty }.count
            if matching != 1 { problems.append("\(path): matches \(matching) of oneOf") }
        }
        if let options = schema["anyOf"] as? [[String: Any]], !options.contains(where: { check(value, $0, at: path).isEmpty }) {
            problems.append("\(path): matches none of anyOf")
        }
        return problems
    }
}
