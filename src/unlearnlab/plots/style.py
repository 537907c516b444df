"""One look for every figure: a colour and a marker per method name, rcParams, and saving.

Every colour in ``src/`` is written here (a test checks it), so a method looks the same in every
figure that shows it: GradDiff is orange everywhere, LoRA blue, the oracle teal. Names are the
registries' names (``methods.available()``, ``localization.LOCALIZERS``) plus the variants the
studies plot (adapters, masked LoRA per localizer, rewrite variants, SAE interventions).

``color(name)`` and ``marker(name)`` resolve, in order: the exact name; a display alias
(``ALIASES``: "Targeted-UNDO" → "TargetedUNDO"); a level suffix ``"<name> α=<a>"`` (a shade of
``<name>``'s colour, lighter for smaller α); the first word of a label ("UNDO α=0.3 (retain
93 %)" → "UNDO"). An unknown name raises ``KeyError`` listing the known ones rather than
falling back to a grey that would make two methods look alike: a new method adds its entry to
``COLORS`` and ``MARKERS`` here.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.colors
import matplotlib.pyplot as plt

COLORS: dict[str, str] = {
    # references
    "base": "#444444", "oracle": "#1b9e77",
    # unlearning methods (methods registry)
    "GradAscent": "#a6761d", "GradDiff": "#d95f02", "NPO": "#66a61e", "SimNPO": "#e6ab02",
    "MaxEnt": "#7570b3", "RMU": "#e7298a", "RefusalKL": "#fb9a99",
    "Distill": "#b15928", "UNDO": "#1f78b4", "TargetedUNDO": "#6a3d9a",
    # adapters and the fact-rewrite variants
    "lora": "#0072b2", "lora_local": "#56b4e9", "full_ft": "#bf812d",
    "ia3_two_stage": "#1a9850", "ia3_one_stage": "#91cf60", "ia3_all": "#5e3c99", "ia3_random": "#878787",
    # localizers (localization registry; Targeted-UNDO mask sources)
    "weight_diff": "#e41a1c", "gradient_norm": "#984ea3", "fisher": "#4daf4a", "act_magnitude": "#ff7f00",
    "act_patching": "#ffd92f", "attribution": "#f781bf", "semi_nmf": "#17becf", "random": "#999999",
    "guided_patching": "#8dd3c7", "fisher_neurons": "#238b45", "gradient_norm_neurons": "#807dba",
    "modules": "#fdb462",
    # masked LoRA per localizer: a darker shade of the localizer's hue
    "masked:weight_diff": "#a50f15", "masked:gradient_norm": "#54278f", "masked:fisher": "#006d2c",
    "masked:act_magnitude": "#a63603", "masked:act_patching": "#b8860b", "masked:attribution": "#c51b7d",
    "masked:semi_nmf": "#0e7c86", "masked:random": "#bdbdbd", "masked:guided_patching": "#35978f",
    "masked:fisher_neurons": "#00441b", "masked:gradient_norm_neurons": "#3f007d", "masked:modules": "#b35806",
    # SAE interventions
    "SAE-clamp": "#08519c", "SAE-dir-ablate": "#a6cee3", "SAE-untrained": "#d9d9d9",
}

# What is not a method (data splits, SAE kinds): colours no method uses, so a split never looks
# like a method. ``role_color`` reads them; a test checks they are disjoint from ``COLORS``.
ROLES: dict[str, str] = {"forget-leaning": "#252525", "retain-leaning": "#bababa", "neutral": "#000000"}
KIND_LINESTYLES = {"relu": "-", "topk": "--"}  # SAE kinds: a line style, never a method's colour

_MARKER_OF_FAMILY = {"reference": "D", "loss": "o", "distill": "s", "adapter": "^", "localizer": "v",
                     "masked": "P", "sae": "X"}
_FAMILIES = {
    "reference": ("base", "oracle"),
    "loss": ("GradAscent", "GradDiff", "NPO", "SimNPO", "MaxEnt", "RMU", "RefusalKL"),
    "distill": ("Distill", "UNDO", "TargetedUNDO"),
    "adapter": ("lora", "lora_local", "full_ft", "ia3_two_stage", "ia3_one_stage", "ia3_all", "ia3_random"),
    "localizer": ("weight_diff", "gradient_norm", "fisher", "act_magnitude", "act_patching", "attribution",
                  "semi_nmf", "random", "guided_patching", "fisher_neurons", "gradient_norm_neurons", "modules"),
    "sae": ("SAE-clamp", "SAE-dir-ablate", "SAE-untrained"),
}
MARKERS: dict[str, str] = {name: _MARKER_OF_FAMILY[family] for family, names in _FAMILIES.items() for name in names}
MARKERS.update({name: _MARKER_OF_FAMILY["masked"] for name in COLORS if name.startswith("masked:")})

ALIASES: dict[str, str] = {
    "LoRA": "lora", "LoRA local": "lora_local", "full fine-tune": "full_ft", "Targeted-UNDO": "TargetedUNDO",
    "global UNDO": "UNDO", "clamp": "SAE-clamp", "dir-ablate": "SAE-dir-ablate", "untrained": "SAE-untrained",
    "SAEClamp": "SAE-clamp", "unedited": "base",
    # registry names of the adapter methods: drawn like the variant they run by default
    "IA3Rewrite": "ia3_two_stage", "LoRARewrite": "lora_local", "FullFineTuneRewrite": "full_ft",
    "MaskedLoRA": "masked:fisher",
}

_LEVEL = re.compile(r"^(?P<name>\S+) α=(?P<alpha>[0-9.]+)")


def _canonical(name: str) -> str:
    """The ``COLORS`` key a name or label stands for (see the module docstring)."""
    if name in COLORS:
        return name
    if name in ALIASES:
        return ALIASES[name]
    first = str(name).split(" ")[0]
    if first in COLORS or first in ALIASES:
        return _canonical(first)
    raise KeyError(f"no colour for method {name!r}; add it to unlearnlab/plots/style.py. "
                   f"Known: {', '.join(sorted(COLORS))}; aliases: {', '.join(sorted(ALIASES))}")


def _shade(hex_color: str, level: float) -> str:
    """``hex_color`` mixed with white: level 1 keeps it, level 0 is 80 % white (wide enough that
    α = 0.1, 0.3 and 0.6 are told apart at print size)."""
    rgb = matplotlib.colors.to_rgb(hex_color)
    keep = 0.2 + 0.8 * min(max(level, 0.0), 1.0)
    return matplotlib.colors.to_hex([keep * c + (1.0 - keep) for c in rgb])


def color(name: str) -> str:
    """The colour of a method, variant or localizer name (or a label that starts with one)."""
    level = _LEVEL.match(str(name))
    if level and str(name) not in COLORS:
        return _shade(COLORS[_canonical(level["name"])], float(level["alpha"]))
    return COLORS[_canonical(name)]


def marker(name: str) -> str:
    """The marker of a method, variant or localizer name (same resolution as ``color``)."""
    return MARKERS[_canonical(name)]


def role_color(role: str) -> str:
    """The colour of something that is not a method (``ROLES``: a data split, a neutral line)."""
    return ROLES[role]


def apply_style() -> None:
    """Shared rcParams: compact fonts, no top/right spines, frameless legends, print resolution."""
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 200, "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "legend.frameon": False})


def save_figure(fig, figures_dir: str | Path, name: str) -> list[Path]:
    """Write ``name.pdf`` (no creation date, so reruns are byte-stable) and ``name.png``, close
    the figure and return both paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = [figures_dir / f"{name}.pdf", figures_dir / f"{name}.png"]
    fig.savefig(paths[0], bbox_inches="tight", metadata={"CreationDate": None})
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths
