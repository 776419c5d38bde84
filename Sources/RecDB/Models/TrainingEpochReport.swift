import Foundation

/// What an epoch-based model (SASRec) reports after each training epoch, for `recctl refresh`'s progress line and
/// its `--json` lines.
public struct TrainingEpochReport: Sendable, Hashable {
    /// The model's name.
    public var model: String
    /// The epoch just finished, from 1.
    public var epoch: Int
    /// The most epochs the run may take (early stopping may end it sooner).
    public var epochs: Int
    /// The mean training loss of the epoch.
    public var loss: Double
    /// NDCG@10 on the validation items held out inside the refresh (nil when no user has enough events to hold one
    /// out).
    public var validationNDCG: Double?
    /// The epoch with the best validation NDCG so far.
    public var bestEpoch: Int
    /// Seconds since training began.
    public var elapsedSeconds: Double
    /// Seconds left if the run takes every epoch up to ``epochs`` at the mean pace so far (an upper bound: early
    /// stopping ends it sooner).
    public var etaSeconds: Double

    /// A line for people: `epoch 3/200  loss 5.1234  val NDCG@10 0.0312 (best 3)  ETA ≤ 95 s`.
    public var line: String {
        let ndcg = validationNDCG.map { String(format: "val NDCG@10 %.4f (best %d)", $0, bestEpoch) } ?? "no validation"
        return String(format: "epoch %d/%d  loss %.4f  %@  ETA ≤ %.0f s", epoch, epochs, loss, ndcg, etaSeconds)
    }

    /// The report as a JSON object's fields (`"event": "epoch"`), for `--json` lines.
    public var jsonObject: [String: Any] {
        [
            "event": "epoch", "model": model, "epoch": epoch, "epochs": epochs, "loss": loss,
            "validation_ndcg10": (validationNDCG as Any?) ?? NSNull(), "best_epoch": bestEpoch,
            "elapsed_seconds": elapsedSeconds, "eta_seconds": etaSeconds,
        ]
    }
}
