"""PyTorch side of the parity check: the same SASRec (pre-norm blocks, fused masked attention semantics), the same
initial weights and batches as the Swift run, the same AdamW steps; compares per-step losses and gradients.

Prints a table and, last, one JSON object with the largest relative errors."""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
report = json.load(open(sys.argv[1]))
cfg = report["config"]
d, heads, length, batch = cfg["dimension"], cfg["heads"], cfg["max_length"], cfg["batch_size"]
params = {w["name"]: torch.tensor(w["values"], dtype=torch.float32).reshape(w["shape"]).requires_grad_()
          for w in report["weights"]}
order = [w["name"] for w in report["weights"]]
decays = {w["name"]: w["decays"] for w in report["weights"]}


def layer_norm(x, prefix):
    return F.layer_norm(x, (d,), params[prefix + ".weight"], params[prefix + ".bias"], eps=1e-5)


def linear(x, prefix):
    return F.linear(x, params[prefix + ".weight"], params[prefix + ".bias"])


def attention(x, prefix, key_mask):
    b, n, _ = x.shape
    hw = d // heads

    def split(t):
        return t.view(b, n, heads, hw).transpose(1, 2)

    q, k, v = (split(linear(x, f"{prefix}.{p}")) for p in ("query", "key", "value"))
    scores = q @ k.transpose(-1, -2) / math.sqrt(hw)
    causal = torch.ones(n, n, dtype=torch.bool).triu(1)
    hidden = causal[None, None] | ~key_mask[:, None, None, :]
    empty = hidden.all(-1, keepdim=True)  # a left pad attends to nothing: zeros, as the Swift op
    scores = scores.masked_fill(hidden & ~empty, float("-inf")).masked_fill(empty, 0.0)
    probabilities = torch.softmax(scores, -1) * (~empty)
    out = (probabilities @ v).transpose(1, 2).reshape(b, n, d)
    return linear(out, f"{prefix}.output")


def forward(inputs):
    ids = torch.tensor(inputs, dtype=torch.long).view(batch, length)
    key_mask = ids != 0
    x = params["item_embedding"][ids] * math.sqrt(d) + params["position_embedding"]
    x = x * key_mask[..., None]
    for i in range(cfg["blocks"]):
        x = x + attention(layer_norm(x, f"block{i}.attention_norm"), f"block{i}.attention", key_mask)
        h = layer_norm(x, f"block{i}.feed_forward_norm")
        x = x + linear(torch.relu(linear(h, f"block{i}.feed_forward.inner")), f"block{i}.feed_forward.outer")
    return layer_norm(x, "final_norm").reshape(batch * length, d)


groups = [{"params": [params[n] for n in order if decays[n]], "weight_decay": cfg["weight_decay"]},
          {"params": [params[n] for n in order if not decays[n]], "weight_decay": 0.0}]
optimizer = torch.optim.AdamW(groups, lr=cfg["learning_rate"], betas=(0.9, 0.999), eps=1e-8)
worst_gradient, worst_loss, worst_zero = 0.0, 0.0, 0.0
print(f"{'step':>4} {'loss swift':>12} {'loss torch':>12} {'max rel grad err':>17}")
for step, b in enumerate(report["batches"]):
    optimizer.zero_grad()
    targets = torch.tensor(b["targets"], dtype=torch.long)
    weights = (targets != 0).float()
    logits = forward(b["inputs"]) @ params["item_embedding"].T
    loss = (F.cross_entropy(logits, targets, reduction="none") * weights).sum() / weights.sum()
    loss.backward()
    step_worst = 0.0
    for name, swift_gradient in zip(order, report["gradients"][step]):
        g = params[name].grad.flatten()
        s = torch.tensor(swift_gradient)
        # Per tensor: the largest element difference relative to the tensor's largest gradient.
        scale = float(g.abs().max())
        difference = float((g - s).abs().max())
        if scale < 1e-6:
            # The key biases' gradient is zero in exact arithmetic (softmax ignores a shift shared by all keys): both
            # sides hold ~1e-9 of rounding there, so they are compared in absolute terms.
            worst_zero = max(worst_zero, difference)
            continue
        step_worst = max(step_worst, difference / scale)
    swift_loss = report["losses"][step]
    worst_loss = max(worst_loss, abs(swift_loss - loss.item()) / abs(loss.item()))
    worst_gradient = max(worst_gradient, step_worst)
    print(f"{step:>4} {swift_loss:>12.6f} {loss.item():>12.6f} {step_worst:>17.2e}")
    optimizer.step()
print(json.dumps({"steps": len(report["batches"]), "max_rel_grad_error_vs_pytorch": worst_gradient,
                  "max_rel_loss_error_vs_pytorch": worst_loss, "max_abs_grad_error_zero_gradients": worst_zero}))
