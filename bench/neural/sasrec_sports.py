"""PyTorch SASRec with the same architecture, loss, negatives, batch size, dtype and initialisation scheme as RecDB's
(Sources/RecNeural/SASRecNetwork.swift, SASRecTrainer.swift), on the same split and evaluator as recneural-sports.

Network: item embeddings (row 0 padding) * sqrt(d) + learned positions, dropout, key mask; `blocks` pre-norm blocks
[LN -> causal MHA (q/k/v/out linears; `attn_dropout` on its probabilities) -> dropout -> residual; LN -> linear -> ReLU -> dropout -> linear -> dropout ->
residual]; final LN; scores = hidden . item embeddings (tied). Xavier-uniform matrices and embeddings, zero biases.
Loss: sampled softmax over `negatives` items shared by the batch, drawn by training popularity (each item counted once
more), logQ-corrected, accidental hits removed; or full softmax. AdamW betas 0.9/0.98, global-norm clip 5, learning
rate constant or cosine-decayed to 0 over `epochs` epochs of ceil(users / batch) steps (as recneural-sports). Sequences
left-padded (PyTorch's usual layout; RecDB packs them).

Usage: python sasrec_sports.py sasrec|time <sequences.txt> [key=value ...] (the same keys as recneural-sports).
Prints progress on stderr and one JSON object on stdout.
"""
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def fail(message):
    print(f"sasrec_sports.py: {message}", file=sys.stderr)
    sys.exit(2)


def parse_options(arguments):
    options = {}
    for argument in arguments:
        if "=" not in argument:
            fail(f"expected key=value, got '{argument}'")
        key, value = argument.split("=", 1)
        options[key] = value
    return options


class Split:
    """Per user: training part (all but the last two items), validation target, test target."""

    def __init__(self, path, user_limit):
        self.training, self.validation, self.test = [], [], []
        item_count = 0
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if user_limit and len(self.training) >= user_limit:
                    break
                fields = line.split()
                if not fields:
                    continue
                try:
                    items = [int(x) for x in fields[1:]]
                except ValueError:
                    fail(f"{path}:{number}: bad item id")
                if len(items) < 3:
                    continue
                item_count = max(item_count, max(items))
                self.training.append(items[:-2])
                self.validation.append(items[-2])
                self.test.append(items[-1])
        self.item_count = item_count

    def history(self, user, target):
        return self.training[user] if target == "validation" else self.training[user] + [self.validation[user]]

    def target(self, user, target):
        return self.validation[user] if target == "validation" else self.test[user]


class Block(nn.Module):
    def __init__(self, d, heads, dropout, attention_dropout):
        super().__init__()
        self.heads = heads
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.attention_norm = nn.LayerNorm(d)
        self.query, self.key, self.value, self.output = (nn.Linear(d, d) for _ in range(4))
        self.feed_forward_norm = nn.LayerNorm(d)
        self.inner, self.outer = nn.Linear(d, d), nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)
        for linear in (self.query, self.key, self.value, self.output, self.inner, self.outer):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, x, hidden_mask):
        b, length, d = x.shape
        h, w = self.heads, d // self.heads
        normed = self.attention_norm(x)
        q = self.query(normed).view(b, length, h, w).transpose(1, 2)
        k = self.key(normed).view(b, length, h, w).transpose(1, 2)
        v = self.value(normed).view(b, length, h, w).transpose(1, 2)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(w)
        scores = scores.masked_fill(hidden_mask, -1e9)  # padded queries' rows feed nothing real
        attended = (self.attention_dropout(torch.softmax(scores, dim=-1)) @ v).transpose(1, 2).reshape(b, length, d)
        x = x + self.dropout(self.output(attended))
        inner = self.dropout(F.relu(self.inner(self.feed_forward_norm(x))))
        return x + self.dropout(self.outer(inner))


class SASRec(nn.Module):
    def __init__(self, item_count, d, blocks, heads, max_length, dropout, attention_dropout):
        super().__init__()
        self.d, self.max_length = d, max_length
        self.item_embedding = nn.Parameter(torch.empty(item_count + 1, d))
        nn.init.xavier_uniform_(self.item_embedding)
        with torch.no_grad():
            self.item_embedding[0].zero_()
        self.position_embedding = nn.Parameter(torch.empty(max_length, d))
        nn.init.xavier_uniform_(self.position_embedding)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d, heads, dropout, attention_dropout) for _ in range(blocks))
        self.final_norm = nn.LayerNorm(d)

    def forward(self, items):  # items [b, L], 0 = padding on the left
        b, length = items.shape
        key_mask = items != 0
        x = self.item_embedding[items] * math.sqrt(self.d) + self.position_embedding
        x = self.dropout(x) * key_mask.unsqueeze(-1)
        causal = torch.ones(length, length, dtype=torch.bool).triu(1)
        hidden_mask = (causal.unsqueeze(0) | ~key_mask.unsqueeze(1)).unsqueeze(1)  # [b, 1, L, L]
        for block in self.blocks:
            x = block(x, hidden_mask)
        return self.final_norm(x)


def left_padded(histories, length):
    out = np.zeros((len(histories), length), dtype=np.int64)
    for row, history in enumerate(histories):
        tail = history[-length:]
        if tail:
            out[row, length - len(tail):] = tail
    return torch.from_numpy(out)


class Trainer:
    def __init__(self, split, o):
        self.split = split
        self.step, self.total_steps = 0, 0  # total_steps 0: constant learning rate
        self.d = int(o.pop("dim", 64))
        self.length = int(o.pop("maxlen", 50))
        self.batch = int(o.pop("batch", 128))
        self.loss = o.pop("loss", "ssm")
        if self.loss not in ("ssm", "full"):
            fail(f"loss={self.loss}: expected ssm or full")
        self.negatives = int(o.pop("negatives", 256))
        self.lr = float(o.pop("lr", 1e-3))
        seed = int(o.pop("seed", 1))
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.model = SASRec(split.item_count, self.d, int(o.pop("blocks", 2)), int(o.pop("heads", 1)), self.length,
                            float(o.pop("dropout", 0.5)), float(o.pop("attn_dropout", 0)))
        decay = float(o.pop("weight_decay", 0))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, betas=(0.9, 0.98), eps=1e-8,
                                           weight_decay=decay)
        self.sequences = [s for s in split.training if len(s) >= 2]
        counts = np.ones(split.item_count + 1)
        counts[0] = 0
        for s in self.sequences:
            np.add.at(counts, s, 1)
        self.probabilities = counts / counts.sum()
        with np.errstate(divide="ignore"):
            self.log_q = torch.from_numpy(np.log(self.probabilities)).float()

    def train_epoch(self):
        self.model.train()
        order = self.rng.permutation(len(self.sequences))
        total, batches = 0.0, 0
        for start in range(0, len(order), self.batch):
            chosen = [self.sequences[i][-(self.length + 1):] for i in order[start:start + self.batch]]
            inputs = left_padded([s[:-1] for s in chosen], self.length)
            targets = left_padded([s[1:] for s in chosen], self.length)
            hidden = self.model(inputs)
            valid = targets != 0
            h, t = hidden[valid], targets[valid]
            table = self.model.item_embedding
            if self.loss == "full":
                loss = F.cross_entropy(h @ table.t(), t)
            else:
                negatives = torch.from_numpy(
                    self.rng.choice(len(self.probabilities), size=self.negatives, p=self.probabilities))
                positive = (h * table[t]).sum(-1) - self.log_q[t]
                negative = h @ table[negatives].t() - self.log_q[negatives]
                negative = negative.masked_fill(negatives.unsqueeze(0) == t.unsqueeze(1), float("-inf"))
                logits = torch.cat([positive.unsqueeze(1), negative], dim=1)
                loss = -torch.log_softmax(logits, dim=1)[:, 0].mean()
            self.optimizer.zero_grad(set_to_none=False)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
            if self.total_steps:
                progress = min(self.step / self.total_steps, 1.0)
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr * 0.5 * (1 + math.cos(math.pi * progress))
            self.optimizer.step()
            self.step += 1
            total += loss.item()
            batches += 1
        return total / max(batches, 1)

    @torch.no_grad()
    def evaluate(self, target):
        self.model.eval()
        split = self.split
        users = len(split.training)
        hits, gain = 0.0, 0.0
        for start in range(0, users, 512):
            chunk = range(start, min(start + 512, users))
            histories = [split.history(u, target) for u in chunk]
            query = self.model(left_padded(histories, self.length))[:, -1, :]
            scores = (query @ self.model.item_embedding.t()).numpy()
            for row, user in enumerate(chunk):
                s = scores[row]
                s[0] = -np.inf
                s[histories[row]] = -np.inf  # S3-Rec's masking: a target repeated from the history is a miss
                item = split.target(user, target)
                above = int((s >= s[item]).sum()) - 1  # ties count against the target
                if above < 10:
                    hits += 1
                    gain += 1 / math.log2(above + 2)
        return hits / users, gain / users


def main():
    if len(sys.argv) < 3:
        fail("usage: sasrec_sports.py sasrec|time <sequences.txt> [key=value ...]")
    mode, path = sys.argv[1], sys.argv[2]
    o = parse_options(sys.argv[3:])
    torch.set_num_threads(int(o.pop("threads", 2)))
    split = Split(path, int(o.pop("users", 0)))
    epochs = int(o.pop("epochs", 200))
    patience = int(o.pop("patience", 5))
    every = int(o.pop("eval_every", 2))
    max_minutes = float(o.pop("max_minutes", 0))
    o.pop("pack", None)  # RecDB's layout switch; PyTorch always pads
    if o.pop("warmup", "0") != "0":
        fail("warmup: not supported here")
    decay = o.pop("decay", "constant")
    if decay not in ("constant", "cosine"):
        fail(f"decay={decay}: expected constant or cosine here")
    trainer = Trainer(split, o)
    if decay == "cosine":  # the schedule's length as recneural-sports sets it: every epoch of the cap
        trainer.total_steps = math.ceil(len(split.training) / trainer.batch) * epochs
    if o:
        fail(f"unknown option(s): {', '.join(sorted(o))}")
    print(f"sasrec_sports.py: {len(split.training)} users, {split.item_count} items", file=sys.stderr)
    if mode == "time":
        seconds, losses = [], []
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            losses.append(trainer.train_epoch())
            seconds.append(time.perf_counter() - start)
            print(f"torch time epoch {epoch}: loss {losses[-1]:.4f}, {seconds[-1]:.2f} s", file=sys.stderr)
        print(json.dumps({"side": "pytorch", "seconds_per_epoch": seconds, "losses": losses}))
        return
    if mode != "sasrec":
        fail(f"mode '{mode}': expected sasrec or time")
    best, best_epoch, since, best_state = -1.0, 0, 0, None
    curve, train_seconds, run_start, epoch, capped = [], 0.0, time.perf_counter(), 0, False
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        loss = trainer.train_epoch()
        seconds = time.perf_counter() - start
        train_seconds += seconds
        point = {"epoch": epoch, "loss": loss, "seconds": seconds}
        if epoch % every == 0 or epoch == epochs:
            hr, ndcg = trainer.evaluate("validation")
            point.update(val_ndcg10=ndcg, val_hr10=hr)
            print(f"torch epoch {epoch}: loss {loss:.4f}, {seconds:.1f} s, val NDCG@10 {ndcg:.4f} HR@10 {hr:.4f}",
                  file=sys.stderr)
            if ndcg > best:
                best, best_epoch, since = ndcg, epoch, 0
                best_state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
            else:
                since += 1
            curve.append(point)
            if since >= patience:
                break
            if max_minutes > 0 and time.perf_counter() - run_start > 60 * max_minutes:
                print(f"torch: stopping at the {max_minutes}-minute cap", file=sys.stderr)
                capped = True
                break
        else:
            print(f"torch epoch {epoch}: loss {loss:.4f}, {seconds:.1f} s", file=sys.stderr)
            curve.append(point)
    if best_state is not None:
        trainer.model.load_state_dict(best_state)
    val_hr, val_ndcg = trainer.evaluate("validation")
    test_hr, test_ndcg = trainer.evaluate("test")
    print(json.dumps({"side": "pytorch", "val_ndcg10": val_ndcg, "val_hr10": val_hr, "test_ndcg10": test_ndcg,
                      "test_hr10": test_hr, "best_epoch": best_epoch, "epochs": epoch, "capped": capped,
                      "seconds_per_epoch": train_seconds / max(epoch, 1),
                      "wall_seconds": time.perf_counter() - run_start, "curve": curve}))


if __name__ == "__main__":
    main()
