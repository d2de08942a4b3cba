"""PyTorch side of the tokenizer training-step comparison (opt-in; issue 17).

The same network as the shipped 64 px tokenizer (Plugins/ImageTokenizer,
TokenizerConfig defaults: width 32, levels 32/64/128/128, 1 residual block per
encoder level, 2 per decoder level, GroupNorm with 8 groups, SiLU, FSQ 8x5x5x5
with straight-through rounding, nearest 2x upsampling + 3x3 conv, MSE loss) and
the same batches (32 full 64 px images; 64 crops of 32 px), fp32, eager,
channels-last, `torch.set_num_threads(2)`. Prints ms per step and images/s, best
of the repetitions, so that it can be interleaved with `muse-bench`:

    python3 -m venv .cache/ref-venv
    .cache/ref-venv/bin/pip install -r scripts/reference/requirements.txt
    for i in 1 2 3; do
      .build/release/muse-bench --only tokenizer
      .cache/ref-venv/bin/python scripts/reference/bench_tokenizer_torch.py
    done
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, groups=8):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, cin), cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(groups, cout), cout, eps=1e-6)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))
        return (self.skip(x) if self.skip is not None else x) + h


class FSQ(nn.Module):
    def __init__(self, levels):
        super().__init__()
        L = torch.tensor(levels, dtype=torch.float32)
        self.register_buffer("half_l", (L - 1) * 1.001 / 2)
        self.register_buffer("offset", torch.where(torch.tensor(levels) % 2 == 0, 0.5, 0.0))
        self.register_buffer("shift", torch.atanh(self.offset / self.half_l))
        self.register_buffer("half_width", torch.div(torch.tensor(levels), 2, rounding_mode="floor").float())

    def forward(self, z):  # z [B, D, h, w]
        v = lambda t: t.view(1, -1, 1, 1)
        b = torch.tanh(z + v(self.shift)) * v(self.half_l) - v(self.offset)
        q = b + (torch.round(b) - b).detach()
        return q / v(self.half_width)


class Tokenizer(nn.Module):
    def __init__(self, width=32, mults=(1, 2, 4, 4), enc_blocks=1, dec_blocks=2, groups=8, levels=(8, 5, 5, 5)):
        super().__init__()
        ch = [width * m for m in mults]
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        enc, prev = [], ch[0]
        for i, c in enumerate(ch):
            for _ in range(enc_blocks):
                enc.append(Block(prev, c, groups)); prev = c
            if i < len(ch) - 1:
                enc.append(nn.Conv2d(prev, prev, 3, stride=2, padding=1))
        self.enc = nn.Sequential(*enc)
        self.enc_out = nn.Sequential(nn.GroupNorm(min(groups, prev), prev, eps=1e-6), nn.SiLU(), nn.Conv2d(prev, len(levels), 3, padding=1))
        self.fsq = FSQ(list(levels))
        dec = [nn.Conv2d(len(levels), ch[-1], 3, padding=1)]
        for i in range(len(ch) - 1, -1, -1):
            for _ in range(dec_blocks):
                dec.append(Block(ch[i], ch[i], groups))
            if i > 0:
                dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch[i], ch[i - 1], 3, padding=1)]
        dec += [nn.GroupNorm(min(groups, ch[0]), ch[0], eps=1e-6), nn.SiLU(), nn.Conv2d(ch[0], 3, 3, padding=1)]
        self.dec = nn.Sequential(*dec)

    def forward(self, x):
        return self.dec(self.fsq(self.enc_out(self.enc(self.conv_in(x)))))


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = Tokenizer().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    for batch, size, what in [(32, 64, "full 64 px images"), (64, 32, "32 px crops")]:
        x = (torch.rand(batch, 3, size, size) * 2 - 1).contiguous(memory_format=torch.channels_last)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(x), x)
            loss.backward()

        step()
        best, spent, runs = float("inf"), 0.0, 0
        while runs < 3 or (spent < 3.0 and runs < 50):
            t0 = time.perf_counter(); step(); dt = time.perf_counter() - t0
            best = min(best, dt); spent += dt; runs += 1
        print(f"training step, batch {batch} {what}: {best * 1e3:.1f} ms ({batch / best:.1f} images/s)")


if __name__ == "__main__":
    main()
