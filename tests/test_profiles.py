"""Profiles: one config per study, smoke and gpu as overrides of the default, --set overrides."""

import dataclasses

import pytest

from unlearnlab.profiles import PROFILE_NAMES, STUDIES, Profile, apply_overrides, get_profile, parse_set, valid_fields

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_study_config_builds_under_every_profile(name):
    profile = get_profile(name)
    assert profile.name == name
    assert set(STUDIES) == {"arithmetic", "localize", "targeted", "rewrite", "concept", "sae", "private", "tofu"}
    for study in STUDIES:
        section = getattr(profile, study)
        assert dataclasses.is_dataclass(section) and dataclasses.fields(section), study
        hash(section)  # frozen and hashable: safe to key artifacts by


def test_smoke_and_gpu_are_overrides_of_the_default():
    default, smoke, gpu = (get_profile(n) for n in ("default", "smoke", "gpu"))
    assert Profile(name="default") == default
    assert smoke.arithmetic.pretrain_steps < default.arithmetic.pretrain_steps
    assert gpu.device == "cuda" and gpu.bf16 and gpu.compile
    # a field no override names keeps the default's value
    assert smoke.arithmetic.pretrain_lr == default.arithmetic.pretrain_lr


def test_set_overrides_one_field_and_coerces_lists_to_tuples():
    profile = get_profile("smoke", parse_set(["concept.steps=4", "arithmetic.seeds=[0,1]", "bf16=true"]))
    assert profile.concept.steps == 4
    assert profile.arithmetic.seeds == (0, 1)
    assert profile.bf16 is True
    # every other field is untouched
    smoke = get_profile("smoke")
    assert dataclasses.replace(profile.concept, steps=smoke.concept.steps) == smoke.concept


def test_set_value_that_is_not_json_stays_a_string():
    assert parse_set(["concept.name=Jaws"]) == {"concept.name": "Jaws"}
    with pytest.raises(ValueError, match="not FIELD=VALUE"):
        parse_set(["concept.steps"])


def test_unknown_field_is_a_clear_error_listing_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown profile field\(s\) concept\.stpes; valid fields: .*concept\.steps"):
        apply_overrides(get_profile("default"), {"concept.stpes": 4})
    assert "arithmetic.seeds" in valid_fields(get_profile("default"))
