"""Concept removal with activation-guided masked LoRA (issue 5; notebook ``33_masked_lora``).

``config`` (the profile section and what each variant trains) · ``setup`` (model, probes, the
base model's answers) · ``localize`` (neuron scores and masks) · ``evaluate`` (held-out metrics,
relearning attack) · ``run`` (training the grid, stored results) · ``tables`` (summaries and the
paper's tables) · ``report`` (notes, captions, verdict).
"""
