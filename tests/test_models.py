import pytest
import torch

from lesionmtl.models import build_model, count_parameters, forward_outputs


@pytest.mark.parametrize(
    ("arch", "k", "expected"),
    [
        ("a1", None, 45_669_713),
        ("a1l", 40, 45_751_673),  # LiTS
        ("a1l", 45, 45_761_918),  # HAM10000
        ("a1l", 190, 46_059_023),  # DeepLesion
    ],
)
def test_parameter_counts_match_the_paper(arch, k, expected):
    assert count_parameters(build_model(arch, encoder="resnet101", n_clusters=k)) == expected


def test_cluster_head_has_the_released_codes_dropout():
    """smp's aux_params default (0.2), as the released code; parameter-free, switchable."""
    model = build_model("a1l", encoder="resnet18", n_clusters=5)
    dropouts = [m for m in model.classification_head.modules() if isinstance(m, torch.nn.Dropout)]
    assert [d.p for d in dropouts] == [0.2]
    off = build_model("a1l", encoder="resnet18", n_clusters=5, head_dropout=0.0)
    assert not any(isinstance(m, torch.nn.Dropout) for m in off.classification_head.modules())
    assert count_parameters(model) == count_parameters(off)
    model.train()
    with torch.no_grad():
        features = torch.ones(4, model.encoder.out_channels[-1], 2, 2)
        assert not torch.equal(model.classification_head(features), model.classification_head(features))


@pytest.mark.parametrize(("arch", "k"), [("a1", None), ("a1l", 5), ("unet", None), ("unetl", 5)])
def test_outputs_have_mask_and_optional_class_logits(arch, k):
    model = build_model(arch, encoder="resnet18", n_clusters=k).eval()
    with torch.no_grad():
        masks, logits = forward_outputs(model, torch.zeros(2, 3, 64, 64))
    assert masks.shape == (2, 1, 64, 64)
    assert (logits is None) == (k is None)
    if k:
        assert logits.shape == (2, k)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("a2")
    with pytest.raises(ValueError, match="needs n_clusters"):
        build_model("a1l", encoder="resnet18")
    with pytest.raises(ValueError, match="no cluster head"):
        build_model("a1", encoder="resnet18", n_clusters=4)


def test_acoseg_parameter_count_matches_the_paper():
    assert count_parameters(build_model("acoseg", encoder="resnet101")) == 64_554_577


def test_acoseg_co_attention_is_crossed():
    """The partner changes the prediction: attention from one image scales the other's features."""
    torch.manual_seed(0)
    model = build_model("acoseg", encoder="resnet18").eval()
    images = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        with_second = model(images[:1], images[1:2])
        with_third = model(images[:1], images[2:3])
        again = model(images[:1], images[1:2])
    assert torch.equal(with_second, again)
    assert not torch.allclose(with_second, with_third, atol=1e-6)


def test_acoseg_pairs_a_batch_with_itself_in_halves():
    torch.manual_seed(0)
    model = build_model("acoseg", encoder="resnet18").eval()
    images = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        batch = model(images)
        explicit = model(images, images[[2, 3, 0, 1]])
    torch.testing.assert_close(batch, explicit)


@pytest.mark.parametrize("arch", ["a1", "acoseg"])
def test_output_stride_8_doubles_the_deepest_feature_map(arch):
    """The switch of the protocol study: same parameters, an encoder map twice as fine (64 px: 4x4 -> 8x8)."""
    images = torch.zeros(2, 3, 64, 64)
    sizes, counts = {}, {}
    for stride in (16, 8):
        model = build_model(arch, encoder="resnet18", output_stride=stride).eval()
        encoder = model.net.encoder if arch == "acoseg" else model.encoder
        with torch.no_grad():
            sizes[stride] = encoder(images)[-1].shape[-2:]
            masks, _ = forward_outputs(model, images)
        assert masks.shape == (2, 1, 64, 64)
        counts[stride] = count_parameters(model)
    assert tuple(sizes[16]) == (4, 4) and tuple(sizes[8]) == (8, 8)
    assert counts[8] == counts[16]
