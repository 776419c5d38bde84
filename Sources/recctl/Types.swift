import ArgumentParser
import RecDB

extension RecCtl {
    struct Types: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List event types, or define and reweight them (through a running recd: DEFINE EVENT TYPE).",
            discussion: "recctl types              list the types and weights\nrecctl types set wishlist=2 rating=value")

        @OptionGroup var options: DatabaseOptions

        @Argument(help: "'set' followed by NAME=WEIGHT pairs; nothing to list.")
        var words: [String] = []

        func run() throws {
            try running(json: options.json) {
                if let first = words.first {
                    guard first == "set", words.count > 1 else { throw ValidationError("usage: recctl types set NAME=WEIGHT ...") }
                    // Through a running recd when one answers (on a replicated cluster the statement goes through
                    // the log to every node), else into the file.
                    let target = try QueryTarget.connect(options, socket: nil)
                    for spec in words.dropFirst() {
                        let type = try parseEventType(spec)
                        let weight = type.usesValue ? "VALUE" : "\(type.weight)"
                        _ = try target.run("DEFINE EVENT TYPE $type WEIGHT \(weight)", parameters: ["type": type.name])
                    }
                }
                let db = try options.open()
                let types = try db.eventTypes
                if options.json {
                    printJSON(types.map { ["name": $0.name, "weight": $0.weight, "uses_value": $0.usesValue] as [String: Any] })
                } else {
                    for type in types {
                        print(type.name.padding(toLength: 12, withPad: " ", startingAt: 0), type.usesValue ? "weight = event value" : "weight \(type.weight)")
                    }
                }
            }
        }
    }
}
