"""TalkCLIP training (paper sec. 4.1.2 and 4.2): two stages, variants, exact resume.

Stage 1 (V2SS pretraining) feeds only the video style code s_v = E_v(style clip) to the decoder, so
that E_v becomes a credible style extractor; the text side (backbone, descriptions, T2SS adapter) is
not used at all. Stage 2 feeds, per iteration, the text style code s_t = T2SS(e_t) with probability p
(rising from p_start to p_final, schedule.py) and s_v otherwise, with L_cos = 1 - cos(s_t, s_v) on every
iteration for the whole batch ("during the whole training process" of the text encoder, sec. 4.2).
With train.cos_gradient "text" s_v stays the teacher ("the video encoder acts as a guide"); with
"both" L_cos pulls on both codes. With train.text_noise > 0 (not the paper; off by default) stage 2 adds
Gaussian noise to the frozen backbone's e_t before the adapter, a regulariser measured for the
out-of-domain prompts in docs/DESIGN.md.

Each iteration: G forward -> one D_tem hinge update on (real window, detached prediction) ->
generator update on lambda_rec L_rec + lambda_sync L_sync + lambda_tem L_tem (+ lambda_cos L_cos).
D_sync is pretrained (sync_pretrain.py) and frozen.

Variants are configurations, not switches (ablations/*.yaml): SimAnno = train.descriptions "simanno",
w/o Adapter = model.use_adapter false, w/o CLIP = model.text_backbone "random", w/o VG =
train.video_guided false (no stage 1, no L_cos, the text code on every iteration, for the steps of both
stages). Because stage 1 never touches the text side and every random draw of a step is independent
of it, variants that differ only there have the same stage 1: `init_from_stage1` starts their stage 2
from one shared stage-1 checkpoint, with exactly the weights their own stage 1 would have produced.

Exact resume: every batch is a function of (seed, stage, step) (data.py), the p coin of
(seed, stage, step), and the torch RNG (dropout) is re-seeded from (seed, stage, step) before every
step. The only state is therefore networks + optimisers, which checkpoints hold exactly, so a run
killed at any point and resumed from its last checkpoint ends with bitwise the same weights on CPU.

Data parallel (train.workers > 1): `train` hands the run to Ray Train (distributed.py), whose workers
each run this trainer on a contiguous slice of every batch with the generator's pass and the D_tem update
wrapped in DistributedDataParallel; only rank 0 writes checkpoints (this format) and logs.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from talkclip.config.loader import to_dict
from talkclip.config.model import TEXT_BACKBONES, ModelConfig
from talkclip.config.train import TrainConfig
from talkclip.device import resolve_device
from talkclip.model import losses
from talkclip.model.discriminators import TemporalDiscriminator
from talkclip.model.talkclip_model import TalkCLIP
from talkclip.preprocess.dataset import dataset_expression_space

from .checkpoint import (
    RESUMABLE_TRAIN_KEYS,
    CheckpointError,
    check_config,
    config_mismatches,
    load_checkpoint,
    restore,
    save_checkpoint,
)
from .data import Batch, ClipStore, DescriptionTable, WindowSampler, batch_loader
from .embeddings import cache_key, description_embeddings
from .schedule import p_schedule
from .sync_pretrain import load_sync_discriminator, step_seed

if TYPE_CHECKING:
    from .distributed import DataParallel

STAGES = ("stage1", "stage2")
# train.* keys that shape stage 2 only: a stage-1 checkpoint seeds a stage-2 run that changes them
# (the pipeline's T2SS stage starts from its V2SS stage's checkpoint; see `train(init_from=...)`).
STAGE2_ONLY_TRAIN_KEYS = frozenset({"p_schedule", "p_start", "p_final", "p_step_levels", "cos_gradient", "lambda_cos",
                                    "stage2_lr", "text_noise"})
# What only the text side depends on (stage 1 never uses it): a stage-1 checkpoint serves every variant
# that differs from it only in these keys (init_from_stage1).
TEXT_SIDE_MODEL_KEYS = frozenset({"text_backbone", "clip_path", "random_backbone_seed", "text_max_tokens",
                                  "adapter_hidden", "use_adapter", "beta"})
TEXT_SIDE_TRAIN_KEYS = frozenset({"descriptions"})
TEXT_SIDE_DATA_KEYS = frozenset({"text_backbone", "embedding_key", "n_texts"})
TEXT_SIDE_PREFIX = "text_style_encoder."
# Streams of the (seed, stream, step) generators; distinct so no two draws share randomness.
BATCH_STREAM = {"stage1": 1, "stage2": 2}
COIN_STREAM = 3
TORCH_STREAM = 4
D_TEM_INIT_STREAM = 5
TEXT_NOISE_STREAM = 6

def text_noise(seed: int, step: int, rows: int, dim: int, world_size: int = 1, rank: int = 0) -> torch.Tensor:
    """Standard normal noise (rows, dim) for one step's text embeddings (train.text_noise), a function of
    (seed, step): drawn for the whole batch of ``rows * world_size`` rows, of which data-parallel worker
    ``rank`` takes its slice's, so that N workers add the same noise as one process and a resumed run
    the same as an unbroken one."""
    generator = torch.Generator().manual_seed(step_seed(seed, TEXT_NOISE_STREAM, step))
    return torch.randn(rows * world_size, dim, generator=generator)[rank * rows : (rank + 1) * rows]


LogHook = Callable[[str, int, dict[str, float]], None]
EvalHook = Callable[[str, int, torch.nn.Module], None]


@dataclass
class TrainResult:
    checkpoint: Path  # final checkpoint (checkpoints/final.pt); checkpoints/last.pt if stopped early
    out_dir: Path
    completed: bool  # False when stopped by max_steps
    steps: dict[str, int]  # completed steps per stage
    global_step: int
    final_metrics: dict[str, dict[str, float]]  # last logged interval of each stage
    history: list[dict]  # every logged interval {"stage", "step", metrics...}, across resumes
    resumed_from: dict | None  # {"stage", "step", "global_step"} of the checkpoint resumed, else None
    windows_per_second: float  # training throughput of this process (nan if it trained nothing)
    text_dim: int
    n_train_clips: int
    skipped_clips: dict[str, int] = field(default_factory=dict)
    embedding_cache: Path | None = None
    embedding_cache_reused: bool = False


def shares_stage1(model_a: ModelConfig, train_a: TrainConfig, model_b: ModelConfig, train_b: TrainConfig) -> bool:
    """Whether two configurations train the same stage 1 (they differ at most in text-side, stage-2-only
    and resumable keys, and both are video guided): then one stage-1 checkpoint serves both."""
    if not (train_a.video_guided and train_b.video_guided):
        return False
    ignore = {"train": RESUMABLE_TRAIN_KEYS | STAGE2_ONLY_TRAIN_KEYS | TEXT_SIDE_TRAIN_KEYS, "model": TEXT_SIDE_MODEL_KEYS}
    a = {"model": to_dict(model_a), "train": to_dict(train_a)}
    b = {"model": to_dict(model_b), "train": to_dict(train_b)}
    return not config_mismatches(a, b, ignore)


def stage_lengths(train_cfg: TrainConfig) -> dict[str, int]:
    """Steps per stage. w/o VG has no stage 1 and trains the text path for the steps of both stages,
    so that every variant of Table 2 gets the same training budget."""
    if train_cfg.video_guided:
        return {"stage1": train_cfg.stage1_steps, "stage2": train_cfg.stage2_steps}
    return {"stage1": 0, "stage2": train_cfg.stage1_steps + train_cfg.stage2_steps}


def state_digest(module: torch.nn.Module) -> str:
    """sha256 of a module's state (names, shapes, bytes): identifies the frozen D_sync in checkpoints."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def backbone_extra(model_cfg: ModelConfig) -> dict[str, Any]:
    """What selects the backbone's weights beyond its name (part of the embedding cache key)."""
    return {"text_backbone": model_cfg.text_backbone, "clip_path": model_cfg.clip_path,
            "random_backbone_seed": model_cfg.random_backbone_seed, "text_max_tokens": model_cfg.text_max_tokens}


def resolve_backbone(model_cfg: ModelConfig, backbone):
    """The given text backbone (checked against model.text_backbone), or the configured one loaded."""
    if backbone is None:
        from talkclip.model.text_backbone import load_text_backbone

        return load_text_backbone(model_cfg)
    if backbone.name in TEXT_BACKBONES and backbone.name != model_cfg.text_backbone:
        raise ValueError(
            f"the given text backbone is {backbone.name!r} but model.text_backbone is {model_cfg.text_backbone!r}"
        )
    return backbone


def text_embedding_table(model_cfg: ModelConfig, descriptions: DescriptionTable, backbone,
                         cache_dir: Path) -> tuple[torch.Tensor, Path, bool, str]:
    """The frozen backbone's embedding of every description (cached in ``cache_dir``): the table, its
    cache file, whether that file was reused, and the cache key (stored in checkpoints)."""
    extra = backbone_extra(model_cfg)
    table, path, reused = description_embeddings(backbone, descriptions.texts, cache_dir, extra=extra)
    return table, path, reused, cache_key(backbone, descriptions.texts, extra)


class _GeneratorPass(torch.nn.Module):
    """The generator's computation of one step (style codes, decoding) as one ``forward``.

    DistributedDataParallel averages the gradients of what its ``forward`` computed, so a data-parallel
    run wraps this module (calling the model's methods directly would bypass the wrapper); a single
    process calls it unwrapped, with the same operations in the same order as before it existed.
    """

    def __init__(self, model: TalkCLIP) -> None:
        super().__init__()
        self.model = model

    def forward(self, style_clip: torch.Tensor, style_pad_mask: torch.Tensor, text_embedding: torch.Tensor | None,
                phoneme_windows: torch.Tensor, need_video: bool, use_text: bool, video_as_teacher: bool):
        """-> (prediction, s_v or None, s_t or None). ``video_as_teacher``: s_v is only used without
        gradient (the L_cos teacher of a step decoded from s_t); it is returned detached so that DDP sees
        the video encoder unused on such steps instead of waiting for gradients that never come."""
        s_v = self.model.video_style(style_clip, style_pad_mask) if need_video else None
        s_t = self.model.text_style(text_embedding) if text_embedding is not None else None
        pred = self.model.decode(phoneme_windows, s_t if use_text else s_v)
        if video_as_teacher and s_v is not None:
            s_v = s_v.detach()
        return pred, s_v, s_t


class _DiscriminatorLoss(torch.nn.Module):
    """D_tem's hinge loss on (real windows, detached prediction) as one ``forward`` (for DDP, as above)."""

    def __init__(self, d_tem: TemporalDiscriminator) -> None:
        super().__init__()
        self.d_tem = d_tem

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return losses.hinge_d_loss(self.d_tem(real), self.d_tem(fake))


class _Accumulator:
    """Sums of per-step metrics over one logging interval (stored in checkpoints for exact logs)."""

    def __init__(self, state: dict | None = None) -> None:
        self.sums: dict[str, float] = dict((state or {}).get("sums", {}))
        self.count: int = int((state or {}).get("count", 0))

    def add(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def means(self) -> dict[str, float]:
        return {k: v / self.count for k, v in self.sums.items()} if self.count else {}

    def state(self) -> dict:
        return {"sums": dict(self.sums), "count": self.count}


class _Trainer:
    """Holds the networks, optimisers and data of one run; ``run`` executes the remaining steps."""

    def __init__(
        self, model_cfg: ModelConfig, train_cfg: TrainConfig, processed_dir: Path, annotated_dir: Path,
        out_dir: Path, sync_checkpoint: Path | None, backbone, cache_dir: Path | None,
        data_parallel: DataParallel | None = None,
    ) -> None:
        self.train_cfg = train_cfg
        self.model_cfg = model_cfg
        # One worker of a data-parallel run (None: this process trains alone); only rank 0 writes.
        self.data_parallel = data_parallel
        self.writes = data_parallel is None or data_parallel.writes
        self.device = data_parallel.device if data_parallel is not None else resolve_device(train_cfg.device)
        self.out_dir = out_dir
        self.checkpoint_dir = out_dir / "checkpoints"
        self.lengths = stage_lengths(train_cfg)

        # --- data: descriptions of the ablation's mode, train clips that have one ---
        descriptions = DescriptionTable.load(annotated_dir, train_cfg.descriptions)
        self.expression_space = dataset_expression_space(processed_dir)
        self.store = ClipStore.load(
            processed_dir, "train", train_cfg.clip_frames, require_clip_ids=set(descriptions.by_clip)
        )
        # The per-coefficient range of the training frames: L_rec's SSIM forms "range"/"image" map
        # tracks to [0, 1] with it (talkclip/model/losses.py). A pure function of the data.
        train_frames = torch.from_numpy(np.concatenate([clip.expression for clip in self.store.clips]))
        normalisation = losses.track_normalisation(train_frames, train_cfg.ssim_form)
        self.track_normalisation = normalisation.to(self.device) if normalisation is not None else None
        self.sampler = WindowSampler(
            self.store, clip_frames=train_cfg.clip_frames, window=model_cfg.window,
            style_max_frames=model_cfg.style_max_frames, batch_size=train_cfg.batch_size, seed=train_cfg.seed,
            descriptions=descriptions, style_source=train_cfg.style_source,
        )

        # --- frozen text backbone: embeddings of every description, computed once ---
        backbone = resolve_backbone(model_cfg, backbone)
        self.text_dim = int(backbone.dim)
        table, self.embedding_cache, self.embedding_cache_reused, embedding_key = text_embedding_table(
            model_cfg, descriptions, backbone, cache_dir or out_dir / "embedding_cache"
        )
        self.text_table = table.to(self.device)

        # --- networks: initialised from the seed alone ---
        torch.manual_seed(train_cfg.seed)
        self.model = TalkCLIP(model_cfg, self.text_dim).to(self.device)
        # D_tem from a seed of its own: its weights must not depend on how much randomness the
        # (variant-dependent) text side of the model consumed.
        torch.manual_seed(step_seed(train_cfg.seed, D_TEM_INIT_STREAM, 0, 0))
        self.d_tem = TemporalDiscriminator(model_cfg).to(self.device)
        self.d_sync = None
        sync_digest = ""
        if train_cfg.lambda_sync > 0:
            if sync_checkpoint is None:
                raise ValueError("train.lambda_sync > 0 needs a pretrained D_sync checkpoint (sync_checkpoint)")
            self.d_sync = load_sync_discriminator(sync_checkpoint, model_cfg, self.device, self.expression_space)
            sync_digest = state_digest(self.d_sync)
        betas = (train_cfg.adam_beta1, train_cfg.adam_beta2)
        # The T2SS adapter has an optimiser of its own (Adam is per parameter, so this is the same
        # as one optimiser over everything): a stage-1 checkpoint, which never touches the text side,
        # can then seed the stage 2 of a variant whose text side differs (see init_from_stage1).
        text_parameters = list(self.model.text_style_encoder.parameters())
        text_ids = {id(p) for p in text_parameters}
        self.opt_g = torch.optim.Adam([p for p in self.model.parameters() if id(p) not in text_ids], lr=train_cfg.lr,
                                      betas=betas)
        self.opt_t = torch.optim.Adam(text_parameters, lr=train_cfg.lr, betas=betas) if text_parameters else None
        self.opt_d = torch.optim.Adam(self.d_tem.parameters(), lr=train_cfg.disc_lr, betas=betas)
        # What the optimisers update goes through these two forwards (DDP-wrapped on a worker of a
        # data-parallel run); checkpoints hold the unwrapped modules, so they are the same either way.
        self.generator_pass: torch.nn.Module = _GeneratorPass(self.model)
        self.discriminator_loss: torch.nn.Module = _DiscriminatorLoss(self.d_tem)
        if data_parallel is not None:
            self.generator_pass = data_parallel.wrap(self.generator_pass, unused_parameters=True)
            self.discriminator_loss = data_parallel.wrap(self.discriminator_loss)

        # The config stored in (and checked against) checkpoints: model, train, and what the data gave.
        self.config = {
            "model": to_dict(model_cfg),
            "train": to_dict(train_cfg),
            "data": {"text_backbone": backbone.name, "text_dim": self.text_dim, "embedding_key": embedding_key,
                     "n_texts": len(descriptions.texts), "n_train_clips": len(self.store),
                     "sync_discriminator": sync_digest, "expression_space": self.expression_space},
        }
        self.stage, self.stage_step, self.global_step = "stage1", 0, 0
        self.steps_done = {stage: 0 for stage in STAGES}
        self.history: list[dict] = []
        self.accumulator = _Accumulator()
        self.resumed_from: dict | None = None

    # ----------------------------------------------------------------- checkpoints
    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"talkclip": self.model, "d_tem": self.d_tem}

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"generator": self.opt_g, "d_tem": self.opt_d}
        if self.opt_t is not None:
            optimizers["text"] = self.opt_t
        return optimizers

    def save(self, path: Path) -> Path:
        return save_checkpoint(
            path,
            modules=self._modules(),
            optimizers=self._optimizers(),
            progress={"stage": self.stage, "stage_step": self.stage_step, "global_step": self.global_step,
                      "steps_done": dict(self.steps_done)},
            config=self.config,
            extra={"history": self.history, "accumulator": self.accumulator.state()},
        )

    def try_resume(self) -> None:
        path = self.checkpoint_dir / "last.pt"
        if not path.is_file():
            return
        checkpoint = load_checkpoint(path)
        check_config(path, checkpoint, self.config, ignore={"train": RESUMABLE_TRAIN_KEYS})
        self.resumed_from = dict(self._adopt(checkpoint))

    def _adopt(self, checkpoint: dict, text_side: bool = True) -> dict:
        """Take over a checkpoint's weights, optimizer and RNG states, progress, history and loss
        accumulator (its config already checked); returns its progress.

        ``text_side`` False keeps this run's own T2SS adapter and its optimiser: for a stage-1
        checkpoint of a run whose text side (backbone, descriptions, adapter) differs.
        """
        if text_side:
            restore(checkpoint, modules=self._modules(), optimizers=self._optimizers(), rng=True)
        else:
            restore(checkpoint, modules={"d_tem": self.d_tem},
                    optimizers={"generator": self.opt_g, "d_tem": self.opt_d}, rng=True)
            stored = checkpoint["modules"]["talkclip"]
            own_text = {k: v for k, v in self.model.state_dict().items() if k.startswith(TEXT_SIDE_PREFIX)}
            shared = {k: v for k, v in stored.items() if not k.startswith(TEXT_SIDE_PREFIX)}
            self.model.load_state_dict({**shared, **own_text})
        progress = checkpoint["progress"]
        self.stage, self.stage_step, self.global_step = progress["stage"], progress["stage_step"], progress["global_step"]
        self.steps_done = dict(progress["steps_done"])
        self.history = list(checkpoint["extra"].get("history", []))
        self.accumulator = _Accumulator(checkpoint["extra"].get("accumulator"))
        return progress

    def init_from_stage1(self, path: Path) -> None:
        """Continue from a checkpoint at the end of stage 1 (V2SS pretraining done).

        Stage 1 never touches the text side (the T2SS adapter, the backbone, the descriptions: see
        ``train_step``), and batches and dropout are drawn independently of it, so the stage 1 of
        every variant that differs only there (``TEXT_SIDE_*`` keys: SimAnno, w/o Adapter, w/o CLIP)
        is the same computation. Its checkpoint therefore seeds their stage 2 exactly as their own
        stage 1 would have; the adapter and its optimiser start fresh from this run's seed.
        """
        if not self.train_cfg.video_guided:
            raise ValueError(f"{path}: a run with train.video_guided false has no stage 1 to start from")
        checkpoint = load_checkpoint(path)
        ignore = {"train": RESUMABLE_TRAIN_KEYS | STAGE2_ONLY_TRAIN_KEYS | TEXT_SIDE_TRAIN_KEYS,
                  "model": TEXT_SIDE_MODEL_KEYS, "data": TEXT_SIDE_DATA_KEYS}
        check_config(path, checkpoint, self.config, ignore=ignore)
        progress = checkpoint["progress"]
        done = progress["steps_done"]
        if progress["stage"] != "stage1" or done["stage1"] != self.lengths["stage1"] or done["stage2"] != 0:
            raise CheckpointError(
                f"{path}: not the end of stage 1 of a run with train.stage1_steps = {self.lengths['stage1']} "
                f"(it holds stage {progress['stage']!r} with steps {done})"
            )
        self.resumed_from = {**self._adopt(checkpoint, text_side=False), "from": str(path)}

    def _text_noise(self, step: int, shape: torch.Size) -> torch.Tensor:
        world, rank = (1, 0) if self.data_parallel is None else (self.data_parallel.world_size, self.data_parallel.rank)
        return text_noise(self.train_cfg.seed, step, shape[0], shape[1], world, rank).to(self.text_table.device)

    # ----------------------------------------------------------------- one step
    def train_step(self, stage: str, step: int, batch: Batch) -> dict[str, float]:
        """One iteration on ``batch`` (on a data-parallel worker: its slice of the step's batch)."""
        cfg = self.train_cfg
        # Dropout masks: a function of (seed, stage, step) and, on workers of a data-parallel run other
        # than rank 0, of the rank, so that no two workers' slices share masks (distributed.py).
        rank = () if self.data_parallel is None or self.data_parallel.rank == 0 else (self.data_parallel.rank,)
        torch.manual_seed(step_seed(cfg.seed, TORCH_STREAM, STAGES.index(stage), step, *rank))
        batch = batch.to(self.device)
        self.model.train()
        metrics: dict[str, float] = {}
        # The generator's learning rate of this stage (the T2SS adapter's optimiser keeps train.lr).
        for group in self.opt_g.param_groups:
            group["lr"] = cfg.stage2_lr if stage == "stage2" and cfg.stage2_lr > 0 else cfg.lr

        # Which style code drives the decoder this iteration.
        if stage == "stage1":
            use_text, p = False, 0.0
        elif not cfg.video_guided:
            use_text, p = True, 1.0
        else:
            p = p_schedule(step, self.lengths["stage2"], cfg.p_schedule, cfg.p_start, cfg.p_final,
                           levels=cfg.p_step_levels)
            coin = np.random.default_rng([cfg.seed, COIN_STREAM, step]).random()
            use_text = bool(coin < p)
        need_video = stage == "stage1" or cfg.video_guided
        # Stage 1 is V2SS pretraining alone (paper sec. 4.1.2: "we only feed the video style code s_v
        # into the decoder"); the text side is untouched, so one stage 1 serves every variant that
        # differs only there (init_from_stage1). L_cos then acts for the whole of stage 2.
        cos_active = stage == "stage2" and cfg.video_guided
        text_embedding = self.text_table[batch.description_index] if stage == "stage2" else None
        if text_embedding is not None and cfg.text_noise > 0:
            text_embedding = text_embedding + cfg.text_noise * self._text_noise(step, text_embedding.shape)
        pred, s_v, s_t = self.generator_pass(batch.style, batch.style_pad_mask, text_embedding, batch.phoneme_windows,
                                             need_video, use_text, use_text and cfg.cos_gradient == "text")

        # D_tem: one hinge update on real windows vs the (detached) prediction.
        if cfg.lambda_tem > 0:
            self.d_tem.train()
            self.d_tem.requires_grad_(True)
            d_loss = self.discriminator_loss(batch.target, pred.detach())
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            self.d_tem.requires_grad_(False)
            # Eval mode for the generator's pass: spectral norm's power iteration advances only on D updates.
            self.d_tem.eval()
            metrics["loss_d_tem"] = d_loss.item()

        loss_rec = losses.reconstruction_loss(pred, batch.target, cfg.mu, cfg.ssim_form, self.track_normalisation)
        total = cfg.lambda_rec * loss_rec
        metrics["loss_rec"] = loss_rec.item()
        metrics["l1"] = torch.nn.functional.l1_loss(pred.detach(), batch.target).item()
        if cfg.lambda_tem > 0:
            loss_tem = losses.hinge_g_loss(self.d_tem(pred))
            total = total + cfg.lambda_tem * loss_tem
            metrics["loss_tem"] = loss_tem.item()
        if self.d_sync is not None:
            loss_sync = losses.sync_loss(self.d_sync(pred, batch.phoneme_windows))
            total = total + cfg.lambda_sync * loss_sync
            metrics["loss_sync"] = loss_sync.item()
        if cos_active:
            guide = s_v.detach() if cfg.cos_gradient == "text" else s_v
            loss_cos = losses.cosine_style_loss(s_t, guide)
            total = total + cfg.lambda_cos * loss_cos
            metrics["loss_cos"] = loss_cos.item()
        optimizers = [self.opt_g] + ([self.opt_t] if self.opt_t is not None and stage == "stage2" else [])
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        total.backward()
        for optimizer in optimizers:
            optimizer.step()
        metrics["loss_total"] = total.item()
        if self.data_parallel is not None:  # the losses of the whole batch: the mean of the equal slices'
            metrics = self.data_parallel.mean(metrics)
        if stage == "stage2":
            metrics["p"] = p
            metrics["text_code_fraction"] = float(use_text)
        if not math.isfinite(metrics["loss_total"]):
            raise FloatingPointError(f"{stage} step {step}: non-finite loss {metrics}")
        return metrics

    # ----------------------------------------------------------------- the loop
    def run(self, on_log: LogHook | None, max_steps: int | None, on_eval: EvalHook | None = None) -> float:
        """Train the remaining steps (or up to ``max_steps`` in total); returns windows/s of this process."""
        cfg = self.train_cfg
        trained_windows, start_time = 0, time.perf_counter()
        for stage in STAGES:
            if STAGES.index(stage) < STAGES.index(self.stage):
                continue
            if stage != self.stage:  # entering a new stage
                self.stage, self.stage_step, self.accumulator = stage, 0, _Accumulator()
            total = self.lengths[stage]
            if self.stage_step >= total:
                continue
            loader = batch_loader(self.sampler, BATCH_STREAM[stage], self.stage_step, total, cfg.num_workers)
            # No bar on Ray Train workers, whose forwarded output cannot render one (rank 0 prints a line per
            # logged interval instead); not passed otherwise: an explicit disable=False overrides $TQDM_DISABLE.
            quiet = {} if self.data_parallel is None else {"disable": True}
            with tqdm(total=total, initial=self.stage_step, desc=f"TalkCLIP {stage}", leave=False, **quiet) as progress:
                for batch in loader:
                    step = self.stage_step
                    # Every worker draws the whole batch of the step (a function of seed, stage, step)
                    # and trains on its slice; throughput counts the whole batch.
                    part = self.data_parallel.part(batch) if self.data_parallel is not None else batch
                    self.accumulator.add(self.train_step(stage, step, part))
                    self.stage_step, self.global_step = step + 1, self.global_step + 1
                    self.steps_done[stage] = self.stage_step
                    trained_windows += len(batch)
                    progress.update(1)
                    stage_done = self.stage_step == total
                    stopping = max_steps is not None and self.global_step >= max_steps
                    log_entry = None
                    if self.stage_step % cfg.log_every == 0 or stage_done:
                        elapsed = max(time.perf_counter() - start_time, 1e-9)
                        log_entry = {**self.accumulator.means(), "windows_per_s": trained_windows / elapsed}
                        self.history.append({"stage": stage, "step": self.global_step, **log_entry})
                        self.accumulator = _Accumulator()
                    if self.writes and (self.stage_step % cfg.checkpoint_every == 0 or stage_done or stopping):
                        self.save(self.checkpoint_dir / "last.pt")
                    if self.writes and stage_done:
                        self.save(self.checkpoint_dir / ("final.pt" if stage == STAGES[-1] else f"{stage}.pt"))
                    if log_entry is not None and on_eval is not None:
                        on_eval(stage, self.global_step, self.model)
                    if log_entry is not None and on_log is not None:
                        on_log(stage, self.global_step, log_entry)
                    if stopping:
                        break
            if max_steps is not None and self.global_step >= max_steps:
                break
        return trained_windows / (time.perf_counter() - start_time) if trained_windows else float("nan")

    @property
    def completed(self) -> bool:
        return self.stage == STAGES[-1] and self.stage_step >= self.lengths[STAGES[-1]]


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    processed_dir: str | Path,
    annotated_dir: str | Path,
    out_dir: str | Path,
    sync_checkpoint: str | Path | None,
    on_log: LogHook | None = None,
    resume: bool = True,
    *,
    max_steps: int | None = None,
    stop_after_stage: str | None = None,
    backbone=None,
    cache_dir: str | Path | None = None,
    on_eval: EvalHook | None = None,
    init_from: str | Path | None = None,
) -> TrainResult:
    """Train TalkCLIP into ``out_dir`` (checkpoints/last.pt, checkpoints/stage1.pt, checkpoints/final.pt).

    resume: continue from ``out_dir/checkpoints/last.pt`` when it exists (config checked; see
    checkpoint.RESUMABLE_TRAIN_KEYS); False starts over and overwrites it.
    on_log(stage, global_step, metrics): called every ``train.log_every`` steps and at each stage end
    with the interval's mean losses; an exception raised there stops training (the last checkpoint stays).
    max_steps: stop (with a checkpoint) once this many steps in total have been trained.
    stop_after_stage: "stage1" trains stage 1 only (ends with checkpoints/stage1.pt and last.pt; a later
    call without it resumes into stage 2 exactly); None or "stage2" trains both.
    backbone: an already loaded text backbone (default: load_text_backbone(model config)).
    cache_dir: where description embeddings are cached (default ``out_dir/embedding_cache``).
    on_eval(stage, global_step, model): called just before each on_log, with the live model (held-out evaluation).
    init_from: a checkpoint at the end of stage 1 (``checkpoints/stage1.pt`` of a run with the same model and
    stage-1 settings; STAGE2_ONLY_TRAIN_KEYS may differ): stage 2 starts from it, exactly as the run that wrote it
    would have continued. Used when ``out_dir`` holds no checkpoint to resume (its own last.pt wins).

    With ``train.workers`` > 1 the run is data parallel on Ray Train (distributed.train_on_ray): the same
    result up to float rounding (model.dropout 0), and the hooks run in the rank-0 worker's process (Ray
    pickles them there), so they must be picklable and their side effects happen in that process.
    """
    _check_stop(max_steps, stop_after_stage)
    if train_cfg.workers > 1:
        from .distributed import FixedHooks, train_on_ray

        return train_on_ray(
            model_cfg, train_cfg, processed_dir, annotated_dir, out_dir, sync_checkpoint, FixedHooks(on_log, on_eval),
            resume=resume, max_steps=max_steps, stop_after_stage=stop_after_stage, backbone=backbone,
            cache_dir=cache_dir, init_from=init_from,
        )
    return train_in_process(
        model_cfg, train_cfg, processed_dir, annotated_dir, out_dir, sync_checkpoint, on_log, resume,
        max_steps=max_steps, stop_after_stage=stop_after_stage, backbone=backbone, cache_dir=cache_dir,
        on_eval=on_eval, init_from=init_from,
    )


def _check_stop(max_steps: int | None, stop_after_stage: str | None) -> None:
    if max_steps is not None and max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    if stop_after_stage not in (None, *STAGES):
        raise ValueError(f"stop_after_stage {stop_after_stage!r}: expected None or one of {STAGES}")


def train_in_process(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    processed_dir: str | Path,
    annotated_dir: str | Path,
    out_dir: str | Path,
    sync_checkpoint: str | Path | None,
    on_log: LogHook | None = None,
    resume: bool = True,
    *,
    max_steps: int | None = None,
    stop_after_stage: str | None = None,
    backbone=None,
    cache_dir: str | Path | None = None,
    on_eval: EvalHook | None = None,
    init_from: str | Path | None = None,
    data_parallel: DataParallel | None = None,
) -> TrainResult:
    """`train` in this process (whatever ``train.workers`` says): alone, or as one worker of a data-parallel
    run (``data_parallel``, set by distributed.py inside each Ray Train worker; its hooks are rank 0's)."""
    _check_stop(max_steps, stop_after_stage)
    if stop_after_stage == "stage1":
        # Global steps count stage 1 first, so stage 1 alone is its first stage1-length steps.
        stage1_end = stage_lengths(train_cfg)["stage1"]
        max_steps = stage1_end if max_steps is None else min(max_steps, stage1_end)
    out_dir = Path(out_dir)
    trainer = _Trainer(
        model_cfg, train_cfg, Path(processed_dir), Path(annotated_dir), out_dir,
        Path(sync_checkpoint) if sync_checkpoint is not None else None, backbone,
        Path(cache_dir) if cache_dir is not None else None, data_parallel,
    )
    if resume:
        trainer.try_resume()
    if init_from is not None and trainer.resumed_from is None:
        trainer.init_from_stage1(Path(init_from))
    rate = float("nan")
    if max_steps is None or trainer.global_step < max_steps:
        rate = trainer.run(on_log, max_steps, on_eval)
    final_metrics: dict[str, dict[str, float]] = {}
    for entry in trainer.history:
        final_metrics[entry["stage"]] = {k: v for k, v in entry.items() if k not in ("stage", "step")}
    completed = trainer.completed
    final_path = trainer.checkpoint_dir / "final.pt"
    stage1_path = trainer.checkpoint_dir / "stage1.pt"
    if completed:
        checkpoint = final_path
    elif stop_after_stage == "stage1" and trainer.steps_done["stage1"] >= trainer.lengths["stage1"] and stage1_path.is_file():
        checkpoint = stage1_path
    else:
        checkpoint = trainer.checkpoint_dir / "last.pt"
    return TrainResult(
        checkpoint=checkpoint,
        out_dir=out_dir,
        completed=completed,
        steps=dict(trainer.steps_done),
        global_step=trainer.global_step,
        final_metrics=final_metrics,
        history=trainer.history,
        resumed_from=trainer.resumed_from,
        windows_per_second=rate,
        text_dim=trainer.text_dim,
        n_train_clips=len(trainer.store),
        skipped_clips={k: len(v) for k, v in trainer.store.skipped.items()},
        embedding_cache=trainer.embedding_cache,
        embedding_cache_reused=trainer.embedding_cache_reused,
    )
