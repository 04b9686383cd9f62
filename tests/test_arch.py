"""The Arch value type: one canonical text per network, hashable, strict parser."""

from __future__ import annotations

import random

import pytest

from kdnas.arch import OPS, Arch, Stage
from kdnas.errors import ConfigError

TEXT = "stem_c16-ir_s1_k3_e1_c16_d1-ir_s2_k5_e6_c24_d2-skip-basic_s2_k3_e1_c64_d1-head_c0"


def test_parse_fields_and_round_trip():
    arch = Arch.from_str(TEXT)
    assert arch.stem == 16 and arch.head == 0
    assert arch.stages[1] == Stage("ir", 2, 5, 6, 24, 2)
    assert arch.stages[2] == Stage.make("skip", 1, 0, 0, 0, 0)
    assert arch.to_str() == TEXT
    assert str(arch) == TEXT
    assert Arch.from_str(arch.to_str()) == arch


def test_equal_archs_hash_equal_and_differ_otherwise():
    a, b = Arch.from_str(TEXT), Arch.from_str(TEXT)
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    c = Arch.from_str(TEXT.replace("head_c0", "head_c32"))
    assert c != a
    assert len({a, c}) == 2
    assert {a: 1}[b] == 1


def test_stages_given_as_list_become_tuple_and_hash():
    arch = Arch(8, [Stage.make("dws", 1, 3, 1, 8, 1)], 0)  # type: ignore[arg-type]
    assert isinstance(arch.stages, tuple)
    assert hash(arch) == hash(Arch(8, (Stage.make("dws", 1, 3, 1, 8, 1),), 0))


def test_arch_is_immutable():
    arch = Arch.from_str(TEXT)
    with pytest.raises(AttributeError):
        arch.stem = 3  # type: ignore[misc]


@pytest.mark.parametrize("op", ["basic", "dws"])
def test_ops_without_expansion_canonicalise_expand_to_one(op):
    assert Stage.make(op, 1, 3, 6, 16, 2) == Stage.make(op, 1, 3, 1, 16, 2)
    assert Stage.make(op, 1, 3, 6, 16, 2).to_str() == f"{op}_s1_k3_e1_c16_d2"


@pytest.mark.parametrize("op", ["ir", "bneck"])
def test_ops_with_expansion_keep_it(op):
    assert Stage.make(op, 1, 3, 6, 16, 2) != Stage.make(op, 1, 3, 3, 16, 2)
    assert Stage.make(op, 1, 3, 6, 16, 2).expand == 6


def test_skip_is_normalised():
    a = Stage.make("skip", 1, 5, 6, 32, 3)
    b = Stage.make("skip", 1, 3, 1, 8, 1)
    assert a == b and a.to_str() == "skip"
    assert (a.kernel, a.width, a.depth) == (0, 0, 0)


def test_skip_with_stride_two_is_rejected():
    with pytest.raises(ConfigError, match="stride 1"):
        Stage.make("skip", 2, 3, 1, 8, 1)
    with pytest.raises(ConfigError, match="stride 1"):
        Stage("skip", 2)


@pytest.mark.parametrize(
    "token",
    [
        "ir_s1_k3_e1_c16",  # missing depth
        "ir_s1_k3_e1_c16_d1_x2",
        "IR_s1_k3_e1_c16_d1",
        "ir-s1",
        "",
        "ir_s1_k3_e1_c-16_d1",
        "ir_s3_k3_e1_c16_d1",  # stride 3
        "ir_s1_k4_e1_c16_d1",  # even kernel
        "ir_s1_k3_e0_c16_d1",
        "ir_s1_k3_e1_c0_d1",
        "ir_s1_k3_e1_c16_d0",
        "conv_s1_k3_e1_c16_d1",  # unknown op
    ],
)
def test_bad_stage_tokens_raise_config_error(token):
    with pytest.raises(ConfigError):
        Stage.from_str(token)


@pytest.mark.parametrize(
    "token, canonical",
    [
        ("basic_s1_k3_e6_c16_d1", "basic_s1_k3_e1_c16_d1"),  # ignored expansion must be e1
        ("dws_s2_k5_e3_c16_d1", "dws_s2_k5_e1_c16_d1"),
        ("ir_s01_k3_e1_c16_d1", "ir_s1_k3_e1_c16_d1"),  # leading zeros
        ("ir_s1_k3_e1_c016_d1", "ir_s1_k3_e1_c16_d1"),
        ("skip_s1_k3_e1_c16_d1", "skip"),
    ],
)
def test_non_canonical_stage_tokens_name_the_canonical_form(token, canonical):
    with pytest.raises(ConfigError, match=canonical):
        Stage.from_str(token)


@pytest.mark.parametrize(
    "text",
    [
        "stem_c016-ir_s1_k3_e1_c16_d1-head_c0",  # leading zero in the stem
        "stem_c16-ir_s1_k3_e1_c16_d1-head_c00",  # leading zero in the head
    ],
)
def test_non_canonical_stem_or_head_is_rejected(text):
    with pytest.raises(ConfigError, match="canonical"):
        Arch.from_str(text)


@pytest.mark.parametrize(
    "text, where",
    [
        ("ir_s1_k3_e1_c16_d1", "expected"),
        ("stem_c16-head_c0", "expected"),
        ("stem_c16--head_c0", "bad stage token ''"),
        ("c16-ir_s1_k3_e1_c16_d1-head_c0", "first token"),
        ("stem_c16-ir_s1_k3_e1_c16_d1-tail_c0", "last token"),
        ("stem_c0-ir_s1_k3_e1_c16_d1-head_c0", "stem width"),
        ("stem_c16-foo_s1_k3_e1_c16_d1-head_c0", "unknown block op 'foo'"),
        ("stem_c16-ir_s1_k3_e1_c16_d1_head_c0", "expected"),
    ],
)
def test_bad_arch_text_raises_config_error_naming_the_problem(text, where):
    with pytest.raises(ConfigError, match=where):
        Arch.from_str(text)


def test_unknown_op_in_constructor():
    with pytest.raises(ConfigError, match="unknown block op"):
        Stage("conv", 1, 3, 1, 8, 1)
    with pytest.raises(ConfigError, match="unknown block op"):
        Stage.make("conv", 1, 3, 1, 8, 1)


def test_arch_field_checks():
    st = (Stage.make("ir", 1, 3, 1, 8, 1),)
    with pytest.raises(ConfigError, match="at least one stage"):
        Arch(8, (), 0)
    with pytest.raises(ConfigError, match="head"):
        Arch(8, st, -1)
    with pytest.raises(ConfigError, match="stem"):
        Arch(0, st, 0)


def test_out_width_follows_the_last_non_skip_stage():
    arch = Arch.from_str("stem_c8-skip-ir_s1_k3_e1_c16_d1-skip-basic_s2_k3_e1_c32_d2-skip-head_c64")
    assert [arch.out_width(i) for i in range(5)] == [8, 16, 16, 32, 32]


def test_strides():
    arch = Arch.from_str(TEXT)
    assert arch.strides == (1, 2, 1, 2)


def _random_stage(rng: random.Random) -> Stage:
    op = rng.choice(list(OPS))
    stride = 1 if op == "skip" else rng.choice([1, 2])
    return Stage.make(op, stride, rng.choice([1, 3, 5, 7]), rng.randint(1, 8), rng.randint(1, 256), rng.randint(1, 4))


def _random_arch(rng: random.Random) -> Arch:
    stages = tuple(_random_stage(rng) for _ in range(rng.randint(1, 8)))
    return Arch(rng.randint(1, 128), stages, rng.choice([0, rng.randint(1, 512)]))


def test_property_text_round_trip_on_random_archs():
    rng = random.Random(20240611)
    seen = set()
    for _ in range(2000):
        arch = _random_arch(rng)
        text = arch.to_str()
        back = Arch.from_str(text)
        assert back == arch, text
        assert hash(back) == hash(arch)
        assert back.to_str() == text
        seen.add(text)
    # Distinct values must have distinct texts (the text is a cache key): values and texts biject.
    archs = {Arch.from_str(t) for t in seen}
    assert len(archs) == len(seen)
    assert len(seen) > 1900  # the generator really explores


def test_property_random_stage_fields_survive_round_trip():
    rng = random.Random(7)
    for _ in range(1000):
        st = _random_stage(rng)
        back = Stage.from_str(st.to_str())
        assert back == st
        if st.op in ("basic", "dws"):
            assert back.expand == 1
