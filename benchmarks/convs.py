"""Where the default CPU training step spends its convolution time: forward, input gradient and
weight gradient of every ``Conv2d`` of the default model, and the weight gradient as one GEMM.

The model is config.yaml's (A1+L: DeepLabV3+ with resnet18, output stride 16, K = 8) on its
48x48 patches, batch 10, on the CPU with 1 torch thread (``training.threads``). At that
input the deepest feature maps are 3x3, where oneDNN's weight-gradient kernel is far slower than
the same arithmetic as a matrix product (``unfold`` of the input, then one GEMM); this benchmark
measures that gap per map size so a change to the training path can be judged by a command, not a
one-off reading. Each convolution is timed alone with ``torch.ops.aten.convolution_backward``
(one gradient at a time), on random tensors of the shapes one forward pass records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import yaml

from benchmarks.machine import REPO
from benchmarks.timing import median, time_calls
from lesionmtl.defaults import schema_defaults

# The default config's model and input (its synth_deeplesion dataset; all three are alike).
_DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())
ENCODER, BATCH = _DEFAULT["training"]["encoder"], _DEFAULT["training"]["batch_size"]
STRIDE = _DEFAULT["training"].get("output_stride", schema_defaults("training")["output_stride"])
PATCH, N_CLUSTERS = (_DEFAULT["datasets"]["synth_deeplesion"][key] for key in ("patch_size", "k"))
TINY_MAP = 16  # feature maps of at most this many positions (4x4) count as tiny


@dataclass(frozen=True)
class ConvShape:
    input: tuple[int, ...]
    weight: tuple[int, ...]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    @property
    def positions(self) -> int:
        return self.input[2] * self.input[3]


def model_convs() -> Counter:
    """Every Conv2d call of one forward pass of the default model, counted by shape."""
    from lesionmtl.models import build_model, forward_outputs

    model = build_model("a1l", encoder=ENCODER, n_clusters=N_CLUSTERS, encoder_weights=None, output_stride=STRIDE)
    seen: Counter = Counter()

    def record(module: torch.nn.Conv2d, args: tuple) -> None:
        seen[
            ConvShape(
                tuple(args[0].shape),
                tuple(module.weight.shape),
                module.stride,
                module.padding,
                module.dilation,
                module.groups,
            )
        ] += 1

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        forward_outputs(model.eval(), torch.randn(BATCH, 3, PATCH, PATCH))
    for hook in hooks:
        hook.remove()
    return seen


def _weight_grad_as_gemm(grad: torch.Tensor, x: torch.Tensor, conv: ConvShape) -> torch.Tensor:
    """The weight gradient of an ungrouped convolution as one (out, N*L) @ (N*L, in*k*k) product."""
    cols = F.unfold(x, conv.weight[2:], dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    n, out = grad.shape[:2]
    lhs = grad.reshape(n, out, -1).permute(1, 0, 2).reshape(out, -1)
    return (lhs @ cols.transpose(1, 2).reshape(lhs.shape[1], -1)).reshape(conv.weight)


def time_conv(conv: ConvShape, repeat: int) -> dict[str, float]:
    """Median seconds of forward, input gradient, weight gradient (and the GEMM form) of one call."""
    x, w = torch.randn(conv.input), torch.randn(conv.weight)
    y = F.conv2d(x, w, None, conv.stride, conv.padding, conv.dilation, conv.groups)
    grad = torch.randn_like(y)

    def backward(mask: list[bool]):
        return lambda: torch.ops.aten.convolution_backward(
            grad, x, w, None, conv.stride, conv.padding, conv.dilation, False, [0, 0], conv.groups, mask
        )

    out = {
        "forward": median(
            time_calls(
                lambda: F.conv2d(x, w, None, conv.stride, conv.padding, conv.dilation, conv.groups),
                repeat=repeat,
                warmup=1,
            )
        ),
        "grad_input": median(time_calls(backward([True, False, False]), repeat=repeat, warmup=1)),
        "grad_weight": median(time_calls(backward([False, True, False]), repeat=repeat, warmup=1)),
    }
    if conv.groups == 1:
        torch.testing.assert_close(
            _weight_grad_as_gemm(grad, x, conv), backward([False, True, False])()[1], rtol=1e-3, atol=1e-2
        )
        out["grad_weight_as_gemm"] = median(
            time_calls(lambda: _weight_grad_as_gemm(grad, x, conv), repeat=repeat, warmup=1)
        )
    return out


def run(quick: bool) -> dict:
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        convs = model_convs()
        repeat = 3 if quick else 15
        sums = Counter()
        for conv, calls in convs.items():
            times = time_conv(conv, repeat)
            group = "tiny_maps" if conv.positions <= TINY_MAP else "larger_maps"
            for phase, seconds in times.items():
                sums[f"{group}_{phase}_s"] += seconds * calls
            if conv.groups == 1:  # the GEMM form's comparison: the same ungrouped convolutions
                sums[f"{group}_ungrouped_grad_weight_s"] += times["grad_weight"] * calls
    finally:
        torch.set_num_threads(threads_before)
    figures = dict(sorted(sums.items()))
    for group in ("tiny_maps", "larger_maps"):
        figures[f"{group}_speedup_gemm_grad_weight"] = (
            figures[f"{group}_ungrouped_grad_weight_s"] / figures[f"{group}_grad_weight_as_gemm_s"]
        )
    return {
        "figures": figures,
        "settings": {
            "model": f"a1l, {ENCODER}, output stride {STRIDE}",
            "n_clusters": N_CLUSTERS,
            "input": [BATCH, 3, PATCH, PATCH],
            "threads": 1,
            "repeat": repeat,
            "tiny_map_positions": TINY_MAP,
            "conv_calls": sum(convs.values()),
            "distinct_shapes": len(convs),
        },
        "notes": [
            f"seconds per training step, summed over the model's {sum(convs.values())} Conv2d calls "
            f"({len(convs)} shapes), each timed alone (median of {repeat})",
            f"tiny maps: at most {TINY_MAP} positions (the 3x3 maps of layer3, layer4 and ASPP at 48x48)",
            "grad_weight_as_gemm: the same weight gradient as unfold + one GEMM (ungrouped convolutions only)",
        ],
    }
