#!/usr/bin/env python3
"""The benchmark's PyTorch peer: the kit's bench children, written as a Python user would run them.

A small BERT in eager PyTorch ops, as Hugging Face's BertModel executes it (eager attention: q·kᵀ / √hd plus the
extended mask, softmax, dropout, ·v), with P-tuning v2's prefix passed the way its code passes it, as
past_key_values (per layer a (2, B, H, l, hd) key/value pair joined in front of the layer's own keys and values,
the mask widened by l ones, position ids shifted by l). APT gates that prefix per layer as the design card says:
α = sigmoid(mean over real tokens of h_{i-1} · W_i + b_i), one weight per prefix token, and a scalar λ_i, both
keys and values scaled by λ_i · α. Random weights (N(0, 0.02)): this times, it does not score.

Usage (the benchmark starts it; it reads the request the kit's children read and writes the result they write):
    python3 pytorch_peer.py '<request json>' '<backbone config json>' <result file>
A request: {"Kind": "step" | "eval", "Method": "apt" | "pt2" | "ft", "Batch", "Length", "Prefix", "Warmup", "Repeats"};
a config: the backbone's
config.json (num_hidden_layers, hidden_size, num_attention_heads, intermediate_size, vocab_size, max_position_embeddings,
type_vocab_size, layer_norm_eps, hidden_dropout_prob, attention_probs_dropout_prob). The result: {"MedianMs", "RssAfterLoadMiB", "PeakRssMiB",
"EarlyRssMiB", "LateRssMiB", "LoadAverage", "Times"}. Threads: torch.set_num_threads(APT_PEER_THREADS, default 2).
Exit 3 with one line on stderr when torch cannot be imported.
"""
import json
import math
import os
import statistics
import sys
import time

try:
    import torch
    from torch import nn
except ImportError as error:  # the benchmark reports the peer as skipped
    print(f"pytorch_peer: torch is not importable ({error})", file=sys.stderr)
    sys.exit(3)


class Embeddings(nn.Module):
    """Word + position + token-type embeddings, LayerNorm, dropout (HF BertEmbeddings)."""

    def __init__(self, c):
        super().__init__()
        self.word = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, ids, type_ids, past_length):
        positions = torch.arange(past_length, past_length + ids.shape[1]).unsqueeze(0)  # (1, T), shifted by the prefix
        x = self.word(ids) + self.token_type(type_ids) + self.position(positions)
        return self.dropout(self.norm(x))  # (B, T, d)


class Layer(nn.Module):
    """One encoder layer (HF BertLayer, eager attention) with an optional past key/value prefix."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.heads, self.head_size = c["num_attention_heads"], d // c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attention_dropout = nn.Dropout(c["attention_probs_dropout_prob"])
        self.attention_output = nn.Linear(d, d)
        self.attention_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.intermediate = nn.Linear(d, c["intermediate_size"])
        self.output = nn.Linear(c["intermediate_size"], d)
        self.output_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def split_heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_size).permute(0, 2, 1, 3)  # (B, H, T, hd)

    def forward(self, h, extended_mask, past=None):
        q = self.split_heads(self.query(h))
        k = self.split_heads(self.key(h))
        v = self.split_heads(self.value(h))
        if past is not None:  # (2, B, H, l, hd): joined in front, as HF does with past_key_value
            k = torch.cat([past[0], k], dim=2)  # (B, H, l + T, hd)
            v = torch.cat([past[1], v], dim=2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + extended_mask  # (B, H, T, l + T)
        probabilities = self.attention_dropout(nn.functional.softmax(scores, dim=-1))
        context = torch.matmul(probabilities, v).permute(0, 2, 1, 3).contiguous()  # (B, T, H, hd)
        context = context.view(h.shape[0], h.shape[1], -1)  # (B, T, d)
        a = self.attention_norm(self.dropout(self.attention_output(context)) + h)
        f = self.output(nn.functional.gelu(self.intermediate(a)))
        return self.output_norm(self.dropout(f) + a)


class Bert(nn.Module):
    """Embeddings, encoder layers, pooler (dense + tanh over the first token)."""

    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.pooler = nn.Linear(c["hidden_size"], c["hidden_size"])
        for module in self.modules():  # BERT's initialisation
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)

    def forward(self, ids, type_ids, mask, prefix=None):
        past_length = 0 if prefix is None else prefix.length
        h = self.embeddings(ids, type_ids, past_length)
        if prefix is not None:
            mask = torch.cat([torch.ones(mask.shape[0], past_length, dtype=mask.dtype), mask], dim=1)  # (B, l + T)
        extended_mask = (1.0 - mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min  # (B, 1, 1, l + T)
        pasts = None if prefix is None else prefix.key_values(ids.shape[0])
        for i, layer in enumerate(self.layers):
            past = None if pasts is None else prefix.gate(i, pasts[i], h, mask[:, past_length:])
            h = layer(h, extended_mask, past)
        return torch.tanh(self.pooler(h[:, 0]))  # (B, d)


class Prefix(nn.Module):
    """P-tuning v2's prefix encoder (Embedding(l, L·2·d), dropout), and for APT the token and layer gates."""

    def __init__(self, c, length, gated, dropout=0.1):
        super().__init__()
        self.length, self.layers, self.heads = length, c["num_hidden_layers"], c["num_attention_heads"]
        self.head_size = c["hidden_size"] // c["num_attention_heads"]
        self.embedding = nn.Embedding(length, self.layers * 2 * c["hidden_size"])
        self.dropout = nn.Dropout(dropout)
        self.gated = gated
        if gated:
            self.token_gates = nn.ModuleList(nn.Linear(c["hidden_size"], length) for _ in range(self.layers))
            for g in self.token_gates:
                nn.init.normal_(g.weight, std=0.02)
                nn.init.zeros_(g.bias)
            self.layer_gates = nn.Parameter(torch.ones(self.layers))

    def key_values(self, batch):
        tokens = torch.arange(self.length).unsqueeze(0).expand(batch, -1)  # (B, l)
        kv = self.embedding(tokens).view(batch, self.length, self.layers * 2, self.heads, self.head_size)
        kv = self.dropout(kv).permute(2, 0, 3, 1, 4)  # (2L, B, H, l, hd)
        return kv.split(2)  # L pairs (2, B, H, l, hd)

    def gate(self, i, past, h, mask):
        if not self.gated:
            return past
        m = mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)  # (B, d): mean over real tokens of h_{i-1}
        alpha = torch.sigmoid(self.token_gates[i](pooled))  # (B, l)
        return past * (self.layer_gates[i] * alpha)[None, :, None, :, None]  # (2, B, H, l, hd)


class Step:
    """One training step as the kit's bench takes it: train mode, AdamW(1e-3) over the trainable tensors, clipping at 1.0."""

    def __init__(self, c, method, batch, length, prefix_length):
        torch.manual_seed(7)
        self.model = Bert(c)
        self.prefix = None if method == "ft" else Prefix(c, prefix_length, gated=method == "apt")
        self.head = nn.Sequential(nn.Dropout(c["hidden_dropout_prob"]), nn.Linear(c["hidden_size"], 2))
        if method == "ft":
            trainable = list(self.model.parameters())
        else:
            self.model.requires_grad_(False)
            trainable = list(self.prefix.parameters())
        self.trainable = trainable + list(self.head.parameters())
        self.optimizer = torch.optim.AdamW(self.trainable, lr=1e-3)
        self.ids, self.type_ids, self.mask = synthetic_batch(c, batch, length)
        self.labels = torch.randint(0, 2, (batch,))

    def __call__(self):
        for module in (self.model, self.prefix, self.head):
            if module is not None:
                module.train()
        self.optimizer.zero_grad()
        pooled = self.model(self.ids, self.type_ids, self.mask, self.prefix)
        loss = nn.functional.cross_entropy(self.head(pooled), self.labels)
        loss.backward()
        nn.utils.clip_grad_norm_(self.trainable, 1.0)
        self.optimizer.step()
        value = loss.item()
        if not math.isfinite(value):
            raise RuntimeError(f"step: loss is {value}")


def synthetic_batch(c, batch, length):
    """Random word ids (no padding) with a [CLS] first, as the kit's SyntheticBatch."""
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(1000, c["vocab_size"], (batch, length), generator=generator)  # (B, T)
    ids[:, 0] = 101
    return ids, torch.zeros(batch, length, dtype=torch.long), torch.ones(batch, length, dtype=torch.long)


def evaluation(c, batch, length):
    """The frozen backbone's evaluation forward (eval mode, inference mode, pooled output)."""
    model = Bert(c).eval()
    ids, type_ids, mask = synthetic_batch(c, batch, length)

    def forward():
        with torch.inference_mode():
            model(ids, type_ids, mask)[0, 0].item()

    return forward


def resident_mib():
    """VmRSS and VmHWM of this process in MiB (/proc/self/status)."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = float(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def main(request_json, config_json, result_path):
    request, c = json.loads(request_json), json.loads(config_json)
    torch.set_num_threads(int(os.environ.get("APT_PEER_THREADS", "2")))
    if request["Kind"] == "step":
        run = Step(c, request["Method"], request["Batch"], request["Length"], request["Prefix"])
    elif request["Kind"] == "eval":
        run = evaluation(c, request["Batch"], request["Length"])
    else:
        raise ValueError(f"unknown request kind {request['Kind']!r} (expected step or eval)")
    after_load = resident_mib()[0]
    for _ in range(request["Warmup"]):
        run()
    times = []
    for _ in range(request["Repeats"]):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    result = {"MedianMs": statistics.median(times), "RssAfterLoadMiB": after_load, "PeakRssMiB": resident_mib()[1],
              "EarlyRssMiB": 0.0, "LateRssMiB": 0.0, "LoadAverage": os.getloadavg()[0], "Times": times}
    temporary = result_path + ".tmp"
    with open(temporary, "w") as out:
        json.dump(result, out)
    os.replace(temporary, result_path)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print("usage: pytorch_peer.py '<request json>' '<backbone config json>' <result file>", file=sys.stderr)
        sys.exit(2)
    main(*sys.argv[1:])
