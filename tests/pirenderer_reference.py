"""Reference data for the PIRenderer architecture test (tests/test_portrait_pirenderer.py).

``tests/data/pirenderer_state_dict.json`` (every parameter name and shape) and
``tests/data/pirenderer_reference.npz`` (outputs for deterministic weights and inputs) were derived
once from StyleTalk's public code (https://github.com/FuxiVirtualHuman/styletalk, MIT,
``generators/face_model.py`` + ``configs/renderer_conf.yaml``, commit 17b046c) with:

    python tests/pirenderer_reference.py --styletalk /path/to/styletalk-checkout

This project does not contain that code; the script only runs it. The weights are not random in
the torch sense: :func:`deterministic_state_dict` builds them from numpy's seeded generator, so the
same values are made here and in the test.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parent / "data"
KEYS_FILE = DATA / "pirenderer_state_dict.json"
REFERENCE_FILE = DATA / "pirenderer_reference.npz"
INPUT_SIZE = 64  # the network is fully convolutional; 64 px keeps the reference small


def deterministic_state_dict(shapes: list[tuple[str, list[int]]]) -> dict[str, torch.Tensor]:
    """Seeded weights with sane activations: fan-in scaled convs / linears, norms near identity."""
    state = {}
    for index, (key, shape) in enumerate(shapes):
        rng = np.random.default_rng(1000 + index)
        values = rng.standard_normal(shape)
        if key.endswith("weight") and len(shape) >= 2 and not (len(shape) == 3 and shape[1:] == [1, 1]):
            values = values / np.sqrt(np.prod(shape[1:]))
        elif key.endswith("weight"):  # LayerNorm2d (C, 1, 1)
            values = 1.0 + 0.1 * values
        else:
            values = 0.1 * values
        state[key] = torch.from_numpy(values.astype(np.float32))
    return state


def deterministic_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(7)
    image = rng.uniform(-1, 1, (1, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    window = (0.3 * rng.standard_normal((1, 73, 27))).astype(np.float32)
    return torch.from_numpy(image), torch.from_numpy(window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styletalk", required=True, help="a checkout of StyleTalk's repository")
    args = parser.parse_args()
    import yaml

    root = Path(args.styletalk).resolve()
    sys.path.insert(0, str(root))
    from generators.face_model import FaceGenerator  # StyleTalk's own module

    config = yaml.safe_load((root / "configs" / "renderer_conf.yaml").read_text())
    generator = FaceGenerator(**config).eval()
    shapes = [(key, list(value.shape)) for key, value in generator.state_dict().items()]
    KEYS_FILE.write_text(json.dumps({"source": "FuxiVirtualHuman/styletalk@17b046c generators/face_model.py",
                                     "state_dict": shapes}, indent=1) + "\n")
    generator.load_state_dict(deterministic_state_dict(shapes))
    image, window = deterministic_inputs()
    with torch.no_grad():
        out = generator(image, window)
    np.savez_compressed(REFERENCE_FILE, fake_image=out["fake_image"].numpy().astype(np.float16),
                        warp_image=out["warp_image"].numpy().astype(np.float16),
                        flow_field=out["flow_field"].numpy().astype(np.float16))
    print(f"{len(shapes)} keys -> {KEYS_FILE}; outputs -> {REFERENCE_FILE}")


if __name__ == "__main__":
    main()
