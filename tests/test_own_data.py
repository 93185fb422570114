"""Your own data and classifier (notebook 10): a folder of images written and read back in both layouts, a
torchvision model with its own preprocessing as the black box, and the command line with a user's model file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision

import caelib
from caelib.cli import main
from caelib.data import ImageTooSmallError, load_dataset, read_images, save_image_folder
from caelib.explain import check_classifier, explain_images
from caelib.paths import CodeBank
from caelib.train import TrainConfig, train_cae

TINY_CAE = caelib.CAEConfig(num_classes=2, width=4, class_width=4, disc_width=4, mlp_dim=16, n_res=1)
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def imagenet_style(x: torch.Tensor) -> torch.Tensor:
    """caelib's grey (B, 1, 32, 32) in [-1, 1] -> what an ImageNet-style model eats: RGB, 64 px, normalised."""
    x = F.interpolate(((x + 1) / 2).repeat(1, 3, 1, 1), size=64, mode="bilinear", align_corners=False)
    return (x - MEAN) / STD


@pytest.fixture(scope="module")
def lesions():
    return load_dataset("lesions", n=24), load_dataset("lesions", "test", n=8)


def test_folder_round_trip_in_both_layouts(lesions, tmp_path: Path) -> None:
    train, test = lesions
    save_image_folder(train, tmp_path / "split" / "train")
    save_image_folder(test, tmp_path / "split" / "test")
    back = load_dataset("folder", "test", root=tmp_path / "split", upscale=False)
    assert back.class_names == ("lesion", "normal")           # sorted folder names, as torchvision's ImageFolder
    order = torch.cat([torch.nonzero(test.labels == test.class_names.index(n)).flatten() for n in back.class_names])
    assert (back.images - test.images[order]).abs().max() <= 1 / 127.5 + 1e-6   # PNG keeps 8 bits
    assert [back.class_names[k] for k in back.labels] == [test.class_names[k] for k in test.labels[order]]

    save_image_folder(train, tmp_path / "ab", folder_names=("trainA", "trainB"))
    save_image_folder(test, tmp_path / "ab", folder_names=("testA", "testB"))
    ab = load_dataset("folder", root=tmp_path / "ab")
    assert ab.class_names == ("A", "B") and torch.equal(torch.bincount(ab.labels), torch.bincount(train.labels))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_image_folder(train, tmp_path / "ab", folder_names=("trainA", "trainB"))


def test_read_images_refuses_small_and_broken_files(lesions, tmp_path: Path) -> None:
    paths = save_image_folder(lesions[1], tmp_path)
    x = read_images(paths[:3], channels=1, image_size=32)
    assert x.shape == (3, 1, 32, 32) and torch.allclose(x, lesions[1].images[:3], atol=1 / 127.5 + 1e-6)
    with pytest.raises(ImageTooSmallError, match="smaller than the model's 64x64"):
        read_images(paths[:1], image_size=64)
    assert read_images(paths[:1], image_size=64, upscale=True).shape == (1, 1, 64, 64)
    (tmp_path / "broken.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match="broken.png"):
        read_images([tmp_path / "broken.png"])


def test_torchvision_model_with_its_own_preprocessing(lesions) -> None:
    train, test = lesions
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(num_classes=2).eval()
    black_box = caelib.as_black_box(resnet, num_classes=2, preprocess=imagenet_style, channels=1, image_size=32)
    assert black_box(test.images).shape == (8, 2)
    check_classifier(black_box, TINY_CAE)                                   # fits: no error
    assert not black_box.training, "the wrapper reports the wrapped model's eval mode"
    black_box.training = True                         # a wrapper in training mode around an eval-mode model
    check_classifier(black_box, TINY_CAE)
    assert black_box.training and not resnet.training, "the check must leave each module in its own mode"
    with pytest.raises(ValueError, match="returns 3 class scores"):
        check_classifier(caelib.as_black_box(torchvision.models.resnet18(num_classes=3), num_classes=3,
                                             preprocess=imagenet_style), TINY_CAE)
    with pytest.raises(ValueError, match="fails on the CAE's images.*preprocess"):  # RGB model fed grey images
        check_classifier(caelib.as_black_box(resnet, num_classes=2), TINY_CAE)

    cae = train_cae(train, TINY_CAE, TrainConfig(steps=2, batch_size=4), progress=False).cae
    bank = CodeBank.from_images(cae, train.images, train.labels)
    expl = explain_images(cae, black_box, test.images[:4], bank, class_names=train.class_names)
    assert expl.maps.shape == (4, 1, 32, 32) and 0 <= float(expl.maps.min()) and float(expl.maps.max()) <= 1 + 1e-6
    assert torch.allclose(expl.probs, caelib.predict_proba(black_box, test.images[:4]))
    record = expl.record(0)
    assert record["decision"] in train.class_names and record["target"] != record["decision"]


USER_MODEL = '''
import torch
import torch.nn.functional as F
import caelib


class Brightness(torch.nn.Module):
    """A "trained" model of the user's: RGB 64x64 images in [0, 1] -> 2 logits from the mean brightness."""

    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([(THRESHOLD - m) * 50, (m - THRESHOLD) * 50], 1)


def load():
    prep = lambda x: F.interpolate(((x + 1) / 2).repeat(1, 3, 1, 1), size=64, mode="bilinear")
    return caelib.as_black_box(Brightness(), num_classes=2, preprocess=prep)
'''


def test_cli_with_a_user_model_file(lesions, tmp_path: Path, capsys) -> None:
    train, test = lesions
    save_image_folder(train, tmp_path / "imgs" / "train")
    save_image_folder(test, tmp_path / "imgs" / "test")
    threshold = float(((train.images + 1) / 2).mean((1, 2, 3)).median())   # half the images on each side
    (tmp_path / "user_model.py").write_text(USER_MODEL.replace("THRESHOLD", f"{threshold:.6f}"))
    cae = tmp_path / "cae.pt"
    assert main(["train-cae", "--folder", str(tmp_path / "imgs"), "--steps", "2", "--width", "4", "--out", str(cae),
                 "--classifier", f"{tmp_path / 'user_model.py'}:load", "--quiet"]) == 0
    images = [str(p) for p in sorted((tmp_path / "imgs" / "test" / "normal").iterdir())[:2]]
    capsys.readouterr()
    code = main(["explain", *images, "--cae", str(cae), "--classifier", f"{tmp_path / 'user_model.py'}:load",
                 "--out", str(tmp_path / "ex"), "--json", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["class_names"] == ["lesion", "normal"] and len(report["results"]) == 2
    assert all(Path(r["figure"]).is_file() for r in report["results"])
    code = main(["explain", images[0], "--cae", str(cae), "--classifier", f"{tmp_path / 'user_model.py'}:nothing",
                 "--out", str(tmp_path / "ex2"), "--quiet"])
    assert code == 2 and "has no function nothing" in capsys.readouterr().err


def test_a_class_name_with_a_slash_is_written_as_one_folder(tmp_path) -> None:
    from caelib.data import ImageDataset, load_dataset, save_image_folder

    ds = ImageDataset(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]), class_names=("T-shirt/top", "Shirt"))
    save_image_folder(ds, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Shirt", "T-shirt-top"]
    back = load_dataset("folder", "train", root=tmp_path, image_size=8, test_fraction=0.5)
    assert back.class_names == ("Shirt", "T-shirt-top")
    with pytest.raises(ValueError, match="distinct single folder names"):
        save_image_folder(ds, tmp_path / "b", folder_names=("a", "a"))
