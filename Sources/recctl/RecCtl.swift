import ArgumentParser
import RecDB

@main
struct RecCtl: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recctl", abstract: "RecDB admin tool")
}
