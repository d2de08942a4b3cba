"""PyTorch side of the base-transformer comparison (opt-in; issue 18).

The same network as the shipped base transformer (Plugins/BaseTransformer,
BaseTransformerConfig defaults: width 256, 8 pre-LN blocks of self-attention,
cross-attention to the projected and layer-normed MiniLM states (16 tokens
per prompt as in muse-bench, key padding mask) and a 4x GELU(tanh) MLP, 4 heads, learned 2D positions over
the 8x8 grid, 1,000 codes + [MASK], final LayerNorm and head), fp32, eager,
`torch.set_num_threads(2)`, timed on the same shapes as `muse-bench --only base`:

- training step, batch 256 (one pass, and four passes of 64 with gradients
  accumulated, which is what muse-train uses): forward, cross-entropy with label
  smoothing 0.1 on the masked positions, backward, plus gradient clipping and
  AdamW (0.9, 0.96), which muse-bench leaves out (about 1% of a step);
- generation of a 64 px image's tokens: 24 MaskGIT steps with classifier-free
  guidance (conditional and unconditional grids in one forward; the text keys
  and values of every block computed once per prompt, as the Swift sampler
  does), confidence with Gumbel noise, cosine schedule; batch 1 and 8;
- the text encoder: `transformers`' BertModel on all-MiniLM-L6-v2 from the
  folder scripts/fetch-text-encoder.sh unpacks (no model hub), one 16-token
  prompt and 64 captions.

Prints the best of the repetitions (and all of them), so it can be interleaved
with muse-bench on a quiet machine:

    python3 -m venv .cache/ref-venv
    .cache/ref-venv/bin/pip install -r scripts/reference/requirements.txt
    for i in 1 2; do
      .build/release/muse-bench --only base,text-encoder
      .cache/ref-venv/bin/python scripts/reference/bench_base_torch.py
    done
"""
import argparse
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# S: text tokens per prompt, as muse-bench's base section (16; the model reads up to 24).
D, DEPTH, HEADS, MLP, TEXT_DIM, S, GRID, V = 256, 8, 4, 4, 384, 16, 8, 1000
T = GRID * GRID
MASK = V


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))

    def keys_values(self, context):
        B, L, _ = context.shape
        k = self.k(context).view(B, L, HEADS, D // HEADS).transpose(1, 2)
        v = self.v(context).view(B, L, HEADS, D // HEADS).transpose(1, 2)
        return k, v

    def forward(self, x, kv, mask=None):
        B, N, _ = x.shape
        q = self.q(x).view(B, N, HEADS, D // HEADS).transpose(1, 2)
        k, v = kv
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o(y.transpose(1, 2).reshape(B, N, D))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn, self.cross = Attention(), Attention()
        self.fc1, self.fc2 = nn.Linear(D, MLP * D), nn.Linear(MLP * D, D)

    def forward(self, x, ctx_kv, ctx_mask):
        h = self.norm1(x)
        x = x + self.attn(h, self.attn.keys_values(h))
        x = x + self.cross(self.norm2(x), ctx_kv, ctx_mask)
        return x + self.fc2(F.gelu(self.fc1(self.norm3(x)), approximate="tanh"))


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.text_proj, self.text_norm = nn.Linear(TEXT_DIM, D), nn.LayerNorm(D)
        self.null_context = nn.Parameter(torch.randn(1, D) * 0.02)
        self.token_embedding = nn.Embedding(V + 1, D)
        self.positions = nn.Parameter(torch.randn(T, D) * 0.02)
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.final_norm, self.head = nn.LayerNorm(D), nn.Linear(D, V)

    def context(self, text, text_mask, is_null):
        ctx = self.text_norm(self.text_proj(text))
        null = torch.zeros_like(ctx)
        null[:, 0] = self.null_context[0]
        ctx = torch.where(is_null.view(-1, 1, 1), null, ctx)
        keep = torch.where(is_null.view(-1, 1), torch.arange(S).view(1, -1) == 0, text_mask)
        # Additive mask [B, 1, 1, S] for scaled_dot_product_attention.
        mask = torch.zeros(keep.shape, dtype=ctx.dtype).masked_fill(~keep, float("-inf")).view(-1, 1, 1, S)
        return ctx, mask

    def prepare(self, text, text_mask, is_null):
        ctx, mask = self.context(text, text_mask, is_null)
        return [b.cross.keys_values(ctx) for b in self.blocks], mask

    def forward(self, tokens, prepared):
        kvs, mask = prepared
        x = self.token_embedding(tokens) + self.positions
        for b, kv in zip(self.blocks, kvs):
            x = b(x, kv, mask)
        return self.head(self.final_norm(x))


def batch(n, gen):
    tokens = torch.randint(0, V, (n, T), generator=gen)
    rate = torch.cos(math.pi / 2 * torch.rand(n, 1, generator=gen))
    masked = torch.rand(n, T, generator=gen) < rate
    masked[:, 0] |= ~masked.any(1)
    inputs = torch.where(masked, torch.full_like(tokens, MASK), tokens)
    text = torch.randn(n, S, TEXT_DIM, generator=gen)
    text_mask = torch.ones(n, S, dtype=torch.bool)
    is_null = torch.rand(n, generator=gen) < 0.1
    return inputs, tokens, masked, text, text_mask, is_null


def train_step(model, opt, data, passes):
    inputs, targets, masked, text, text_mask, is_null = data
    opt.zero_grad(set_to_none=True)
    n = inputs.shape[0] // passes
    total = masked.sum()
    for p in range(passes):
        s = slice(p * n, (p + 1) * n)
        logits = model(inputs[s], model.prepare(text[s], text_mask[s], is_null[s]))
        loss = F.cross_entropy(logits[masked[s]], targets[s][masked[s]], label_smoothing=0.1, reduction="sum") / total
        loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


@torch.no_grad()
def generate(model, n, steps, guidance, gen):
    text = torch.randn(n, S, TEXT_DIM, generator=gen)
    text_mask = torch.ones(1, S, dtype=torch.bool)
    both_text = torch.cat([text, text])
    both_mask = torch.cat([text_mask.expand(n, S), text_mask.expand(n, S)])
    is_null = torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)])
    prepared = model.prepare(both_text, both_mask, is_null)   # once per prompt
    tokens = torch.full((n, T), MASK)
    for step in range(steps):
        logits = model(torch.cat([tokens, tokens]), prepared)
        t = guidance * (step + 1) / steps
        guided = (1 + t) * logits[:n] - t * logits[n:]
        probs = F.softmax(guided, -1)
        drawn = torch.multinomial(probs.view(-1, V), 1, generator=gen).view(n, T)
        conf = torch.log(torch.gather(probs, -1, drawn.unsqueeze(-1)).squeeze(-1))
        gumbel = -torch.log(-torch.log(torch.rand(n, T, generator=gen).clamp_min(1e-20)))
        conf = conf + 4.5 * (1 - (step + 1) / steps) * gumbel
        masked = tokens == MASK
        conf = torch.where(masked, conf, torch.full_like(conf, float("inf")))
        keep_masked = int(math.floor(T * math.cos(math.pi / 2 * (step + 1) / steps)))
        tokens = torch.where(masked, drawn, tokens)
        if keep_masked > 0:
            lowest = conf.topk(keep_masked, dim=-1, largest=False).indices
            tokens.scatter_(1, lowest, MASK)
    return tokens


def best(label, f, reps, per):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    b = min(times)
    print("%-52s best %8.1f ms  (%s)  %s" % (label, b * 1e3, ", ".join("%.0f" % (x * 1e3) for x in times), per(b)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-dir", default=os.path.join(ROOT, ".cache/text-encoder/all-MiniLM-L6-v2"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    print("torch %s, %d threads, fp32 eager" % (torch.__version__, torch.get_num_threads()))

    model = Base()
    print("base transformer: %d parameters" % sum(p.numel() for p in model.parameters()))
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "positions" not in n and "null" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "positions" not in n and "null" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.045}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.96))
    data = batch(256, gen)
    for passes in (1, 4):
        train_step(model, opt, data, passes)  # warm-up
        best("training step, batch 256 in %d pass%s" % (passes, "" if passes == 1 else "es of 64"),
             lambda: train_step(model, opt, data, passes), args.reps, lambda s: "%.1f samples/s" % (256 / s))

    model.eval()
    for n in (1, 8):
        generate(model, n, 2, 3.0, gen)  # warm-up
        best("generation, %d prompt%s, 24 steps + guidance" % (n, "" if n == 1 else "s"),
             lambda: generate(model, n, 24, 3.0, gen), args.reps, lambda s: "%.3f s/image" % (s / n))

    if os.path.exists(os.path.join(args.model_dir, "config.json")):
        from transformers import AutoTokenizer, BertModel
        tok = AutoTokenizer.from_pretrained(args.model_dir, local_files_only=True)
        bert = BertModel.from_pretrained(args.model_dir, local_files_only=True).eval()
        prompt = tok(["three blue stars on a light blue background, and a red circle above them"], return_tensors="pt",
                     padding="max_length", truncation=True, max_length=16)
        captions = tok(["a red circle above two blue stars"] * 64, return_tensors="pt", padding=True)
        with torch.no_grad():
            bert(**prompt)
            best("text encoder (BertModel), one 16-token prompt", lambda: bert(**prompt), max(args.reps, 10), lambda s: "")
            best("text encoder (BertModel), 64 captions", lambda: bert(**captions), args.reps, lambda s: "")
    else:
        print("text encoder: %s has no config.json; skipped" % args.model_dir)


if __name__ == "__main__":
    main()
