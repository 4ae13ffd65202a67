"""The numeric precision of a run, and `auto`'s choice of it from the hardware.

    choice = precision.choose("auto")          # Choice(precision, reason)
    print(choice.line())                       # "precision: bfloat16 (this CPU ... )"

Precisions:
- `float32`: everything in float32.
- `bfloat16`: convolutions, LRN (forward and its closed-form backward), pooling, fc6-fc8
  and their gradients in bfloat16; the weights' master copy, the momentum, the softmax and
  the loss in float32 (Keras' `mixed_bfloat16` policy for training; a served model holds
  bfloat16 weights, `serving_policy`). `model.keras` and checkpoints hold float32 weights
  either way. `mixed_bfloat16` is its former name and still accepted.
- `mixed_float16`: Keras' `mixed_float16` with dynamic loss scaling (for GPUs; CPUs have
  no fast float16 products).

`auto` picks bfloat16 where the hardware multiplies bfloat16 several times faster than
float32 (AMX, or a GPU with bfloat16), float32 elsewhere (`RULE`; docs/performance.md has
the measurements behind it). The hardware is read once by `detect()`; tests pass a
`Hardware` of their own.
"""
from __future__ import annotations

import dataclasses
import os

FLOAT32, BFLOAT16, MIXED_FLOAT16 = "float32", "bfloat16", "mixed_float16"
PRECISIONS = (FLOAT32, BFLOAT16, MIXED_FLOAT16)
AUTO = "auto"
ALIASES = {"mixed_bfloat16": BFLOAT16}        # the name this precision had before
REQUESTS = (AUTO, *PRECISIONS, *ALIASES)
CPUINFO = "/proc/cpuinfo"

# AMX tiles (Intel since Sapphire Rapids) multiply bfloat16 several times faster than
# float32 through oneDNN: there a run's numbers clearly pay for bfloat16's rounding, so
# `auto` changes a run's arithmetic only there. AVX512-BF16 alone (Cooper Lake, AMD Zen 4
# and later) gains less (docs/performance.md) and stays an explicit --precision=bfloat16;
# without either, oneDNN emulates bfloat16 through float32 at about half its speed.
AMX_FLAG, AVX512_BF16_FLAG = "amx_bf16", "avx512_bf16"
RULE = ("bfloat16 where the CPU has AMX and TensorFlow's oneDNN kernels are on, or on a GPU "
        "with bfloat16 (compute capability 8.0+); float32 elsewhere")


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What `auto` looks at: the CPU's model name and flags, whether TensorFlow's oneDNN
    kernels are on (TF_ENABLE_ONEDNN_OPTS), the GPUs with native bfloat16."""
    cpu_model: str = "unknown CPU"
    cpu_flags: frozenset = frozenset()
    onednn: bool = True
    bfloat16_gpus: tuple = ()

    @property
    def amx(self) -> bool:
        return AMX_FLAG in self.cpu_flags

    @property
    def avx512_bf16(self) -> bool:
        return AVX512_BF16_FLAG in self.cpu_flags

    def describe_cpu(self) -> str:
        """"AMD EPYC (AVX512-BF16, no AMX)": the model and its bfloat16 instructions."""
        features = ["AMX" if self.amx else "no AMX",
                    "AVX512-BF16" if self.avx512_bf16 else "no AVX512-BF16"]
        features.sort(key=lambda f: f.startswith("no "))
        return f"{self.cpu_model} ({', '.join(features)})"


def read_cpuinfo(path=CPUINFO) -> tuple[str, frozenset]:
    """(model name, flags) of the first processor in a /proc/cpuinfo-style file; an
    unreadable or foreign file gives ("unknown CPU", no flags)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return "unknown CPU", frozenset()
    model, flags = "unknown CPU", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip() or model
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return model, flags


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN kernels are on in this process (its default on x86;
    TF_ENABLE_ONEDNN_OPTS=0 turns them off, and then bfloat16 has no fast CPU kernels)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false")


def bfloat16_gpus() -> tuple:
    """Names of the visible GPUs with native bfloat16 (compute capability 8.0 or more)."""
    import tensorflow as tf
    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        if tuple(details.get("compute_capability") or (0, 0)) >= (8, 0):
            found.append(details.get("device_name") or gpu.name)
    return tuple(found)


def detect(cpuinfo=CPUINFO) -> Hardware:
    model, flags = read_cpuinfo(cpuinfo)
    return Hardware(cpu_model=model, cpu_flags=flags, onednn=onednn_enabled(),
                    bfloat16_gpus=bfloat16_gpus())


@dataclasses.dataclass(frozen=True)
class Choice:
    precision: str
    reason: str
    warning: str = ""   # a resumed bfloat16 run on hardware where `auto` says float32

    def line(self) -> str:
        return f"precision: {self.precision} ({self.reason})"


def canonical(name: str) -> str:
    """`name` with its former spelling replaced; ValueError for an unknown one."""
    if name not in REQUESTS:
        raise ValueError(f"unknown precision {name!r}; choose one of {list(REQUESTS)}")
    return ALIASES.get(name, name)


def automatic(hardware: Hardware) -> Choice:
    """`auto`'s choice on `hardware` (`RULE`), with the reason in words."""
    if hardware.bfloat16_gpus:
        return Choice(BFLOAT16, f"auto: GPU {hardware.bfloat16_gpus[0]} has native bfloat16")
    cpu = hardware.describe_cpu()
    if not hardware.amx:
        return Choice(FLOAT32, f"auto: {cpu} has no AMX, which auto asks of a CPU for "
                               "bfloat16")
    if not hardware.onednn:
        return Choice(FLOAT32, f"auto: TF_ENABLE_ONEDNN_OPTS=0 turns off oneDNN, which "
                               f"runs bfloat16 on the AMX of {cpu}")
    return Choice(BFLOAT16, f"auto: {cpu} multiplies bfloat16 on AMX through oneDNN")


def choose(requested: str = AUTO, *, hardware: Hardware | None = None) -> Choice:
    """The precision a new run uses: `requested` itself, or `auto`'s choice."""
    requested = canonical(requested)
    if requested != AUTO:
        return Choice(requested, "asked for")
    return automatic(hardware or detect())


def resumed(recorded: str | None, recorded_reason: str = "", *, source,
            requested: str = AUTO, hardware: Hardware | None = None) -> Choice:
    """A resumed run's precision: the one its first run recorded in `source` (its
    config.json). `recorded` None: that file predates the record, when precision was a
    per-run option defaulting to float32: `requested`, float32 for auto. A bfloat16 run
    resumed on hardware where `auto` would choose float32 stays bfloat16 (its checkpoints
    continue in one precision) with a warning saying so, and that it runs at about half
    the float32 speed where the CPU has no bfloat16 instructions at all."""
    requested = canonical(requested)
    if recorded is None:
        precision = FLOAT32 if requested == AUTO else requested
        reason = (f"resumed: {source} is from before precision was recorded; "
                  + ("float32, the default then" if requested == AUTO else "asked for"))
    else:
        precision = canonical(recorded)
        reason = f"resumed: {source} records {precision}" + (
            f", chosen as '{recorded_reason}'" if recorded_reason else "")
    warning = ""
    if precision == BFLOAT16:
        hardware = hardware or detect()
        here = automatic(hardware)
        if here.precision != BFLOAT16:
            warning = (f"this run continues in bfloat16, as it started, though auto would "
                       f"choose {here.precision} on this machine "
                       f"({here.reason.removeprefix('auto: ')})")
            if not (hardware.amx or hardware.avx512_bf16 or hardware.bfloat16_gpus):
                warning += ("; without bfloat16 instructions expect about half the float32 "
                            "speed")
    return Choice(precision, reason, warning)


def training_policy(precision: str) -> str:
    """The Keras dtype policy a training model is built under (float32 variables)."""
    return {FLOAT32: "float32", BFLOAT16: "mixed_bfloat16",
            MIXED_FLOAT16: "mixed_float16"}[canonical(precision)]


def serving_policy(precision: str) -> str:
    """The Keras dtype policy of a served model: its variables in `precision` too, so a
    request does not pay a cast of every weight."""
    precision = canonical(precision)
    if precision not in (FLOAT32, BFLOAT16):
        raise ValueError(f"a served model is float32 or bfloat16, not {precision!r}")
    return precision
