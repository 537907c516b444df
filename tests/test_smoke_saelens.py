"""Every SAE the SAE study trains (smoke run) is also saved in SAELens' format beside its artifact,
and that folder loads back through the SAELens-format loader with the same encoder and decoder
outputs as the study's own file (rtol = atol = 1e-5: the input scale is folded into the weights)."""

import pytest
import torch

from unlearnlab.sae.model import SparseAutoencoder
from unlearnlab.sae.saelens_format import load_saelens

pytestmark = [pytest.mark.smoke, pytest.mark.xdist_group("smoke")]  # reads the one smoke pipeline run


def test_saes_saved_by_the_study_load_back_through_the_saelens_loader(smoke):
    smoke.require("34_sae")
    folders = sorted((smoke.root / "artifacts").rglob("saelens/cfg.json"))
    stages = {folder.parent.parent.parent.name for folder in folders}
    assert {"sae_real"} <= stages and len(stages) >= 2, stages  # the real tier and the synthetic tier
    for cfg in folders:
        ours = SparseAutoencoder.load(cfg.parent.parent)
        theirs = load_saelens(cfg.parent)
        x = torch.randn(64, ours.cfg.d_in, generator=torch.Generator().manual_seed(0)) * 3
        with torch.no_grad():
            torch.testing.assert_close(theirs.encode(x), ours.encode(x), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-5)
        assert (theirs.cfg.site, theirs.cfg.layer) == (ours.cfg.site, ours.cfg.layer)
