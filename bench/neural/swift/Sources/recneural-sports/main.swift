// SASRec on Amazon Sports (or any "user item item …" file) under the standard protocol: last item test, second-last
// validation, the rest training; full ranking; HR@10 and NDCG@10 (RankingEvaluator). RecDB's session model on the
// same split is recneural-session. Built on the training core alone (no RecDB).
// Usage: recneural-sports sasrec|time|test|latency <sequences.txt> [key=value …]
//   users=N (first N users; all by default), threads=2, and for sasrec/time: dim, blocks, heads, maxlen, dropout,
//   attn_dropout (on the attention probabilities; default 0),
//   loss=ssm|full|bce, negatives, lr, warmup, decay=constant|linear|cosine, weight_decay, batch, seed, pack=1|0,
//   epochs (cap; for time: epochs timed), patience, eval_every, max_minutes; sasrec: test=0 (validation only, for
//   screening), save=PATH (the kept weights); test: load=PATH (scores validation and test of saved weights);
//   latency: dim, blocks, heads, maxlen (the history length), calls (request-time encode, see LatencyRun).
// Prints progress on standard error and one JSON object on standard output.
import Foundation
import RecNeural
import SportsSplit

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: recneural-sports sasrec|time|test|latency <sequences.txt> [key=value …]") }
var options = Options(arguments.dropFirst(3))
let userLimit = options.int("users", 0)
Parallel.setThreadCount(options.int("threads", 2))
let split = SequenceSplit(path: arguments[2], userLimit: userLimit > 0 ? userLimit : nil)
log("recneural-sports: \(split.userCount) users, \(split.itemCount) items")
switch arguments[1] {
case "sasrec":
    let run = SASRecRun(split: split, options: &options)
    options.checkAllUsed()
    emit(run.run())
case "time":
    let run = SASRecRun(split: split, options: &options)
    options.checkAllUsed()
    emit(run.time(epochs: run.maxEpochs))
case "test":
    let run = SASRecRun(split: split, options: &options)
    let path = options.string("load", "")
    options.checkAllUsed()
    guard !path.isEmpty else { fail("test mode needs load=PATH (weights a sasrec run wrote with save=PATH)") }
    emit(run.test(weightsFrom: path))
case "latency":
    let run = LatencyRun(itemCount: split.itemCount, options: &options)
    options.checkAllUsed()
    emit(run.run())
case let mode:
    fail("mode '\(mode)': expected sasrec, time, test or latency")
}
