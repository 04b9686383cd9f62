"""Typed configs of the proxy run and of full training."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _moved(data: object, where: str, fields: frozenset[str]) -> object:
    """Refuse, naming the new place, a field written where it was before it moved under `advanced`
    (a study file from before; stored studies are upgraded by `kdnas.study.migrate_proxy`)."""
    if isinstance(data, dict):
        old = sorted(fields & data.keys())
        if old:
            raise ValueError(f"{', '.join(old)} moved: write {' and '.join(f'{where}.advanced.{k}' for k in old)}")
    return data


class BlockwiseAdvanced(BaseModel):
    """Expert and research settings of the block-wise proxy: what a block's score is and where it
    is measured. The defaults are what `python -m benchmarks.fidelity` measured; most studies leave them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: Literal["loss", "tse"] = Field(
        "loss", description="what a block contributes to a student's score: its validation loss after training "
        "(loss), or its training speed, the mean training loss over its steps (tse)")
    include_stem_head: bool = Field(True, description="also train and score the stem and head widths (stem/head blocks); "
                                    "off for a teacher whose stem changes resolution")
    val_samples: int = Field(512, gt=0, description="validation images on which a block's loss is measured")


class BlockwiseSpec(BaseModel):
    """The block-wise proxy (DNA, Li et al. 2020; DONNA, Moons et al. 2021): how each block is trained
    to map the teacher's stage input to its stage output, how students are scored from the block
    table, and how many of the best are confirmed by the end-to-end `kd` proxy.

    Blocks train on `max_samples` training images' teacher features; `n_students` architectures
    (all of them where the space is smaller) are scored from the table; the confirmed front holds
    `budget.trials` members. `advanced` holds what a block's score is and where it is measured.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(150, gt=0, description="optimizer steps per block")
    batch_size: int = Field(64, gt=0, description="images per block training step")
    lr: float = Field(3e-3, gt=0, description="AdamW learning rate (cosine to 0)")
    max_samples: int = Field(2048, gt=0, description="training images whose teacher features train the blocks")
    n_students: int = Field(20000, gt=0, description="architectures scored from the table (random sample)")
    threads: int = Field(1, gt=0, description="torch threads while training blocks")
    advanced: BlockwiseAdvanced = Field(BlockwiseAdvanced(), description="expert settings (BlockwiseAdvanced)")

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: object) -> object:
        return _moved(data, "proxy.blockwise", frozenset(BlockwiseAdvanced.model_fields))

    def fingerprint(self) -> str:
        """What changes a block's result (part of every block's cache key, with the seed): its
        training settings and the images its loss is measured on. Out: what only picks a recorded
        figure (`advanced.score`), which blocks are trained (`include_stem_head`: the block is in
        the key itself), how many students are scored, and the threads."""
        keep = {"steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, "max_samples": self.max_samples,
                "val_samples": self.advanced.val_samples}
        return ",".join(f"{k}={keep[k]}" for k in sorted(keep))


class SimilarityAdvanced(BaseModel):
    """Research settings of the similarity proxy: which stages are compared and how RSA compares
    two dissimilarity matrices. The defaults follow the papers; every choice was measured against
    trained ground truths (docs/research/similarity.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stages: Literal["all", "last", "logits"] = Field(
        "all", description="what is compared: every aligned stage, averaged (all), the last one only (last), or "
        "the logits only (logits; for diswot its class relation alone); diswot's all and last are the same: "
        "the last stage's sample relation and the logits' class relation")
    rsa_correlation: Literal["spearman", "pearson"] = Field(
        "spearman", description="rsa: the correlation between the two dissimilarity matrices (Spearman's rank "
        "correlation, or Pearson's)")


class SimilaritySpec(BaseModel):
    """The similarity proxy (`proxy.method: similarity`): how similar a student's stage features are
    to the teacher's on one fixed probe batch of the training split, drawn once per study from its
    seed. The similarity is the trial's score (higher is more similar); no evaluation pass runs.

    `measure`: ``cka`` (linear centred kernel alignment, Kornblith et al. 2019, averaged over the
    stages aligned by resolution), ``rsa`` (representational similarity analysis, Bashivan et al.
    2019: the correlation of the two representational dissimilarity matrices, 1 - the Pearson
    correlation of two samples' features) or ``diswot`` (Dong et al. 2023: minus the distance
    between the sample-relation matrices of the last stage plus that between the class-relation
    matrices of the logits; 0 is identical). The default is ``diswot``: at initialisation it was the
    only measure that ranked the fidelity benchmark's panels better than chance (Kendall tau 0.4-0.6
    where cka and rsa read -0.4 to 0.2; docs/research/similarity.md). `steps`: short KD steps before
    measuring (0: at initialisation), with the run settings of `proxy` (`temperature`, `alpha`,
    `batch_size`, `optimizer`, `lr`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    measure: Literal["cka", "rsa", "diswot"] = Field(
        "diswot", description="diswot (sample and class relations, DisWOT), cka (linear CKA over aligned "
        "stages) or rsa (correlation of the representational dissimilarity matrices)")
    steps: int = Field(0, ge=0, description="KD steps of the short run before measuring (0: at initialisation)")
    probe_size: int = Field(256, ge=4, description="training images in the probe batch (the same for every student)")
    advanced: SimilarityAdvanced = Field(SimilarityAdvanced(), description="research settings (SimilarityAdvanced)")


#: The short run's learning rate when a config gives no lr: SGD's was the search's default before
#: AdamW; AdamW's is the one `python -m benchmarks.fidelity` measured (docs/proxies.md).
DEFAULT_LR = {"sgd": 0.05, "adamw": 3e-3}


class ProxyAdvanced(BaseModel):
    """Expert and research settings of the short run: what ranks the students, how the run is
    scored, and the optimizer's finer settings. The defaults are what `python -m benchmarks.fidelity`
    measured best (docs/proxies.md); most studies leave them.

    `score`: what ranks the students (the value of the study's first objective, higher is better):
    ``accuracy`` (validation top-1), ``val_loss`` (minus the validation cross-entropy) or ``tse``
    (minus the training objective averaged over every step: training speed, Ru et al. 2021) or
    ``tse_late`` (the same over the second half of the steps only: Ru et al.'s TSE-E). The run
    records all four. ``tse_late`` with AdamW ranked the CIFAR-10 panels best within 5% of the
    ground truth's cost; the earlier defaults were ``tse`` and, before it, SGD scored by
    ``accuracy`` (a study stored under either is refused on resume with the values that continue
    it). `bn_recalibration` defaults to 512 images (2048 before 2026-11-25): on three panels 512
    showed the same mean accuracy and ranked them alike, for half the evaluation pass.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: Literal["accuracy", "val_loss", "tse", "tse_late"] = Field(
        "tse_late", description="what ranks the students: accuracy (validation top-1), val_loss (validation "
        "cross-entropy), tse (training loss over the whole run) or tse_late (over its second half)")
    bn_recalibration: int = Field(
        512, ge=0, description="training images over which BatchNorm statistics are recomputed before the "
        "run is scored (0: keep the running statistics of the run; see kdnas.distill.bn_recal)")
    eval_batch_size: int = Field(1024, gt=0, description="images per forward pass while scoring (memory only: "
                                 "the same result at any size)")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (AdamW ignores it)")
    weight_decay: float = Field(5e-4, ge=0, description="SGD weight decay on weights, not on BN scales or biases "
                                "(AdamW ignores it)")


class ProxySpec(BaseModel):
    """A short distillation run that scores a student on the validation split.

    `method`: ``kd`` (Hinton), ``hint`` (KD plus FitNet hint losses on aligned stage features),
    ``ce`` (labels only: the no-distillation baseline), ``blockwise`` (score the whole space from a
    table of block-wise distillation losses, then confirm the best with the ``kd`` run described by
    the other fields; see `BlockwiseSpec`), ``similarity`` (the similarity of the student's stage
    features to the teacher's on a probe batch; see `SimilaritySpec`). Budget: `steps`, or `epochs`
    over the training split (exactly one of them; none for ``similarity``, whose KD steps are
    `similarity.steps`, and which is ranked by the similarity, not `advanced.score`). The loss is ``alpha * KD + (1 - alpha) * CE`` (the convention of full
    training's `DistillSpec` too), plus ``hint_weight`` times the hint terms for ``hint``.

    An `lr` is tied to its optimizer (SGD's and AdamW's differ by 10-30x), so an `lr` without an
    `optimizer` is refused rather than read as an AdamW rate. `advanced` holds what ranks the
    students and the finer settings (`ProxyAdvanced`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["kd", "hint", "ce", "blockwise", "similarity"] = Field(
        "kd", description="kd (Hinton), hint (KD plus FitNet hints), ce (labels only), blockwise (block table, "
        "then the best confirmed by kd), similarity (stage features compared with the teacher's on a probe batch)")
    temperature: float = Field(4.0, gt=0, description="KD softmax temperature")
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the KD term; 1 - alpha weighs the cross-entropy")
    hint_weight: float = Field(1.0, ge=0, description="weight of each hint term (method hint)")
    steps: int | None = Field(None, gt=0, description="optimizer steps of the run (or give epochs; method similarity: "
                              "neither, its steps are similarity.steps)")
    epochs: float | None = Field(None, gt=0, description="passes over the training split (or give steps)")
    batch_size: int = Field(64, gt=0, description="images per training step")
    optimizer: Literal["sgd", "adamw"] = Field("adamw", description="sgd (momentum) or adamw")
    lr: float = Field(3e-3, gt=0, description="peak learning rate (warm-up, then cosine to 0); default 0.05 for "
                      "sgd, 0.003 for adamw; give it with its optimizer")
    threads: int = Field(1, gt=0, description="torch threads of one trial")
    blockwise: BlockwiseSpec = Field(BlockwiseSpec(), description="the block-wise proxy (method blockwise)")
    similarity: SimilaritySpec = Field(SimilaritySpec(), description="the similarity proxy (method similarity)")
    advanced: ProxyAdvanced = Field(ProxyAdvanced(), description="expert settings: the score that ranks "
                                    "students (not for method similarity: the similarity ranks them), BatchNorm "
                                    "recalibration, ... (ProxyAdvanced)")

    @model_validator(mode="before")
    @classmethod
    def _lr_of_the_optimizer(cls, data: object) -> object:
        # An lr tuned for one optimizer is wrong for the other by 10-30x: without an lr, take the
        # chosen optimizer's (`optimizer: sgd` alone is then a complete setting); an lr alone may
        # have been written for SGD, the default before AdamW, so it must say which it is for.
        data = _moved(data, "proxy", frozenset(ProxyAdvanced.model_fields))
        if not isinstance(data, dict):
            return data
        if "lr" in data and "optimizer" not in data:
            raise ValueError(f"lr {data['lr']} is given without an optimizer: add 'optimizer: sgd' or "
                             f"'optimizer: adamw' (the default is adamw, lr {DEFAULT_LR['adamw']})")
        if "lr" not in data and data.get("optimizer", "adamw") in DEFAULT_LR:
            return {**data, "lr": DEFAULT_LR[data.get("optimizer", "adamw")]}
        return data

    @model_validator(mode="after")
    def _one_budget(self) -> ProxySpec:
        if self.method == "similarity":
            # the similarity is measured after `similarity.steps` KD steps and is the score itself: a
            # budget or a score kind here would say something the run does not do
            if self.steps is not None or self.epochs is not None:
                raise ValueError("method similarity takes no 'steps' or 'epochs': its KD steps are 'similarity.steps'")
            if "score" in self.advanced.model_fields_set:
                raise ValueError("method similarity is ranked by the similarity: remove 'advanced.score'")
            return self
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one budget: 'steps' or 'epochs'")
        return self

    @property
    def ranked_by(self) -> str:
        """What the study's `score` objective holds: ``similarity`` for that method, else `advanced.score`."""
        return "similarity" if self.method == "similarity" else self.advanced.score

    def run_json(self) -> str:
        """What changes a run's result, as JSON: the key of every cache of runs (with the teacher,
        data, architecture and seed the caller adds). In: every field that changes how the run
        trains, and `advanced.bn_recalibration`, which changes the accuracy and loss it measures.
        Out: `advanced.score` (it only picks which recorded figure ranks), `eval_batch_size` (memory
        only), `threads` and the device, `blockwise` (the block table has its own key) and
        `similarity` (another method's settings: out, the keys of runs cached before it existed hold).

        Threads and device are out on purpose: they change floating-point rounding, not the
        experiment, and a run cached on a GPU must serve a CPU checkout (a ground truth costs GPU
        hours). A caller that measures seconds adds them to its own key."""
        return self.model_dump_json(exclude={"threads": True, "blockwise": True, "similarity": True,
                                             "advanced": {"score", "eval_batch_size"}})

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps of the run for a training split of `n_train` samples."""
        if self.steps is not None:
            return self.steps
        assert self.epochs is not None
        return max(1, math.ceil(self.epochs * n_train / self.batch_size))


class TrainRecipe(BaseModel):
    """Full training: SGD with momentum, cosine schedule with warm-up, batch augmentation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(30, gt=0, description="passes over the training split")
    batch_size: int = Field(128, gt=0, description="images per optimizer step")
    lr: float = Field(0.1, gt=0, description="peak learning rate (SGD), reached after the warm-up")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    nesterov: bool = Field(True, description="Nesterov momentum")
    weight_decay: float = Field(5e-4, ge=0, description="L2 weight decay")
    warmup_epochs: float = Field(1.0, ge=0, description="linear learning-rate warm-up, in epochs (fractions allowed)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the cross-entropy with the labels")
    augment: bool = Field(True, description="random crop of each batch, plus a horizontal flip where the data set's "
                          "labels survive one (CIFAR-10, image folders; not digits or Fashion-MNIST)")
    crop_pad: int | None = Field(None, ge=0, description="random-crop padding; default H/8")
    threads: int = Field(2, gt=0, description="CPU threads (torch) while training on the CPU")
    eval_batch_size: int = Field(1024, gt=0, description="images per forward pass when scoring (memory, not results)")


class DistillSpec(BaseModel):
    """Which distillation terms full training adds to the label loss, and their weights.

    One convention with the proxy (`ProxySpec`): ``alpha`` weighs Hinton KD at ``temperature`` and
    the label term (cross-entropy) gets ``1 - alpha``; ``alpha: 0`` with every other term 0 trains
    on labels only. The other terms come on top with their own weights: ``hint_weight`` the FitNet
    MSE on stage features aligned by resolution (through trained 1x1 adapters);
    ``rkd_distance``/``rkd_angle`` the RKD terms on the pooled last-stage features; ``dkd_weight``
    decoupled KD (``dkd_alpha`` TCKD + ``dkd_beta`` NCKD), ramped in linearly over
    ``dkd_warmup_epochs`` as in the paper.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(4.0, gt=0, description="softmax temperature of the KD (and DKD) terms")
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the Hinton KD term; 1 - alpha weighs the "
                         "cross-entropy with the labels (0: labels only, unless another term is on)")
    hint_weight: float = Field(0.0, ge=0, description="weight of the FitNet hint term on aligned stage features")
    rkd_distance: float = Field(0.0, ge=0, description="weight of the RKD distance term")
    rkd_angle: float = Field(0.0, ge=0, description="weight of the RKD angle term")
    dkd_weight: float = Field(0.0, ge=0, description="weight of decoupled KD (DKD)")
    dkd_alpha: float = Field(1.0, ge=0, description="DKD: weight of its target-class part (TCKD)")
    dkd_beta: float = Field(8.0, ge=0, description="DKD: weight of its non-target part (NCKD)")
    dkd_warmup_epochs: float = Field(0.0, ge=0, description="DKD: epochs over which its weight ramps in from 0")

    @model_validator(mode="before")
    @classmethod
    def _no_separate_ce_weight(cls, data: object) -> object:
        # Recipes written before one convention held a `ce_weight` (None: 1 - alpha). Such a
        # record still reads; one that set CE apart from alpha trained something this spec
        # cannot say, and is refused with what to write instead.
        if not isinstance(data, dict) or "ce_weight" not in data:
            return data
        rest = {k: v for k, v in data.items() if k != "ce_weight"}
        ce, alpha = data["ce_weight"], rest.get("alpha", 0.9)
        if ce is None or (isinstance(alpha, (int, float)) and math.isclose(ce, 1.0 - alpha, abs_tol=1e-12)):
            return rest
        raise ValueError(f"ce_weight is gone: the cross-entropy weight is 1 - alpha (here {1.0 - alpha:g}); "
                         f"remove ce_weight {ce} and set alpha")

    @property
    def uses_teacher(self) -> bool:
        """Whether any term needs the teacher's outputs."""
        return any(w > 0 for w in (self.alpha, self.hint_weight, self.rkd_distance, self.rkd_angle, self.dkd_weight))

    @property
    def label_weight(self) -> float:
        """Weight of the cross-entropy term: 1 - alpha."""
        return 1.0 - self.alpha

    def labels_only(self) -> DistillSpec:
        """The same spec with every distillation term off (the --no-kd baseline)."""
        return DistillSpec(temperature=self.temperature, alpha=0.0)


class RetrainRecipe(TrainRecipe):
    """Full training of a chosen student (`kdnas retrain`, `kdnas distill`): the teacher recipe plus
    the schedule's shape, mixed precision and the distillation terms.

    ``schedule``: ``cosine`` (to 0) or ``step`` (LR times ``gamma`` at each of ``milestones``,
    given as fractions of the run); both after the linear warm-up. ``amp``: bfloat16 autocast
    on CUDA (no loss scaling needed); ignored on the CPU.
    """

    epochs: int = Field(30, gt=0, description="passes over the training split")
    schedule: Literal["cosine", "step"] = Field("cosine", description="learning rate after the warm-up: cosine to 0, "
                                                "or step (times gamma at each milestone)")
    milestones: tuple[float, ...] = Field((0.5, 0.75), description="step schedule: where the learning rate drops, "
                                          "as increasing fractions of the run")
    gamma: float = Field(0.1, gt=0, le=1, description="step schedule: the factor of each drop")
    amp: bool = Field(True, description="bfloat16 autocast on CUDA (no loss scaling needed); ignored on the CPU")
    seed: int = Field(0, description="seed of the student's initialisation and batch order (`--seeds` runs several)")
    distill: DistillSpec = Field(DistillSpec(), description="the distillation terms and their weights")

    @model_validator(mode="after")
    def _milestones(self) -> RetrainRecipe:
        if any(not 0 < m < 1 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            raise ValueError("milestones must be increasing fractions of the run in (0, 1)")
        return self
