// RecDB's session model on Amazon Sports (or any "user item item …" file) under the standard protocol: last item
// test, second-last validation, the rest training; full ranking; HR@10 and NDCG@10 (the evaluator the SASRec side
// uses). Kept apart from recneural-sports so that one builds the training core alone, without RecDB.
// Usage: recneural-session <sequences.txt> [users=N]
// Prints one JSON object on standard output.
import Foundation
import SportsSplit

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: recneural-session <sequences.txt> [users=N]") }
var options = Options(arguments.dropFirst(2))
let userLimit = options.int("users", 0)
options.checkAllUsed()
let split = SequenceSplit(path: arguments[1], userLimit: userLimit > 0 ? userLimit : nil)
log("recneural-session: \(split.userCount) users, \(split.itemCount) items")
emit(SessionRun(split: split).run())
