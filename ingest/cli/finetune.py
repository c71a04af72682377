"""``tuwen finetune``: contrastive training of a CLIP model on a captioned catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from ingest.cli.base import EXIT_OK, CliError


def add_finetune(sub: argparse._SubParsersAction) -> None:
    """Adds ``tuwen finetune``.

    Args:
        sub: The ``tuwen`` subcommands.
    """
    p = sub.add_parser(
        "finetune",
        help="train a CLIP model on a captioned catalog (pretrained base or from scratch)",
        description="Contrastive (InfoNCE) training of a Chinese-CLIP / AltCLIP / CLIP model on "
        "the captioned photos of a catalog. The output directory loads like a downloaded "
        "model (--clip-model OUT) and holds training.json with the held-out recall per epoch.",
    )
    p.add_argument("--images", type=Path, required=True, help="folder of product photos")
    p.add_argument("--captions", type=Path, required=True, help="caption CSV (image,text)")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--base", help="pretrained Chinese-CLIP / AltCLIP / CLIP: hub id or local dir")
    src.add_argument(
        "--from-scratch",
        action="store_true",
        help="a random small Chinese-CLIP with a vocabulary built from the captions",
    )
    src.add_argument(
        "--heads-only",
        action="store_true",
        help="only (re)train the answer heads of the model already in --out (e.g. a "
        "downloaded CLIP); its weights are not changed",
    )
    p.add_argument(
        "--no-heads",
        action="store_true",
        help="do not train the answer heads after the contrastive epochs",
    )
    p.add_argument(
        "--pixel-epochs",
        type=int,
        default=30,
        help="epochs of the answer heads' pixel network (default 30; 0: none)",
    )
    p.add_argument(
        "--size",
        default="small",
        help="architecture for --from-scratch: tiny, mini, small (default), medium, base",
    )
    p.add_argument("--image-size", type=int, help="input pixels for --from-scratch")
    p.add_argument("--epochs", type=int, help="epoch limit (default 10 unless --minutes)")
    p.add_argument(
        "--minutes", type=float, help="wall-time limit, evaluation and final save included"
    )
    p.add_argument("--batch-size", type=int, default=128, help="pairs per step (default 128)")
    p.add_argument(
        "--lr",
        type=float,
        help="peak learning rate (default 1e-3 with --from-scratch, 1e-5 with --base)",
    )
    p.add_argument(
        "--soft-targets",
        type=float,
        metavar="W",
        help="share of each contrastive target given to captions like the pair's own "
        "(shared tokens), so photos of products with shared attributes end up close "
        "(default 0.5 with --from-scratch, 0 with --base)",
    )
    p.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay")
    p.add_argument(
        "--freeze",
        choices=("none", "vision", "text"),
        default="none",
        help="tower to freeze (default none)",
    )
    p.add_argument(
        "--unfreeze-last",
        type=int,
        default=0,
        metavar="N",
        help="the frozen tower's last N layers (and its final norm and projection) still "
        "train; with --freeze none, only the last N layers of each tower train",
    )
    p.add_argument(
        "--holdout", type=float, default=0.1, help="share held out for evaluation (default 0.1)"
    )
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="autocast dtype; auto: bf16/fp16 on CUDA, on CPU the faster of bf16 and fp32",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads (default: every core, one less per core other processes keep busy; "
        "2 with --reproducible)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--reproducible",
        action="store_true",
        help="the same weights on every x86 machine: float32 on the CPU, a fixed thread count "
        "and the AVX2 code paths of torch, oneDNN and MKL (on AVX-512 machines the CLIP trains "
        "about as fast, the answer heads' pixel network 1.6x slower)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_finetune)


def cmd_finetune(args: argparse.Namespace) -> int:
    """Trains, keeps the best epoch by held-out recall and prints its figures.

    Args:
        args: The parsed ``tuwen finetune`` command line.

    Returns:
        ``EXIT_OK``.

    Raises:
        CliError: When training cannot start or fails (the message says why).
    """
    import time

    started = time.monotonic()
    if args.heads_only:
        return _heads_only(args)
    from ingest.training import FinetuneConfig, FinetuneError, finetune

    config = FinetuneConfig(
        images=args.images,
        captions=args.captions,
        out=args.out,
        base=args.base,
        from_scratch=args.from_scratch,
        size=args.size,
        image_size=args.image_size,
        epochs=args.epochs,
        minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        soft_targets=args.soft_targets,
        weight_decay=args.weight_decay,
        freeze=args.freeze,
        unfreeze_last=args.unfreeze_last,
        holdout=args.holdout,
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        reproducible=args.reproducible,
        heads=not args.no_heads,
        pixel_epochs=args.pixel_epochs,
        progress=not args.quiet,
        started=started,
    )
    try:
        result = finetune(config)
    except FinetuneError as e:
        raise CliError(str(e)) from e
    best = result.best
    h = best.heldout or best.train_probe or {}
    print(
        f"trained {result.records[-1].epoch} epochs in {result.seconds:.0f}s "
        f"(stopped by {result.stopped}); best epoch {best.epoch}: held-out "
        + ", ".join(
            f"{d} " + "/".join(f"{v:.3f}" for v in h[d].values()) for d in ("t2i", "i2t") if d in h
        )
        + f" (R@1/5/10) → {result.out}"
    )
    if result.heads is not None:
        from ingest.vqa.train import summary

        print(summary(result.heads))
    return EXIT_OK


def _heads_only(args: argparse.Namespace) -> int:
    """``--heads-only``: trains and saves the answer heads of the model in ``--out``."""
    from ingest.models.fingerprint import ModelNotFound
    from ingest.vqa.fit import HeadsConfig
    from ingest.vqa.train import summary, train_heads

    if args.no_heads:
        raise CliError("--heads-only and --no-heads contradict each other; give one")
    if not (args.out / "config.json").is_file():
        raise CliError(
            f"--heads-only: {args.out} is not a model directory (no config.json); point --out "
            "at a saved CLIP model, e.g. one downloaded with `huggingface-cli download`"
        )
    threads, device = args.threads, args.device
    if threads is not None and threads < 1:
        raise CliError("--threads must be at least 1")
    if args.reproducible:
        from ingest.training.reproducible import pin_cpu_kernels, run_settings

        threads, device = run_settings(threads, device)
        if device != "cpu":
            raise CliError(f"--reproducible trains on the CPU; drop --device {device}")
        pin_cpu_kernels()
    try:
        heads = train_heads(
            args.out,
            args.images,
            args.captions,
            config=HeadsConfig.of(args.holdout, args.pixel_epochs, args.seed, threads=threads),
            device=device,
            progress=not args.quiet,
        )
    except (ModelNotFound, ValueError) as e:  # a CatalogError is a ValueError
        raise CliError(str(e)) from e
    print(summary(heads.report) + f" → {args.out}")
    return EXIT_OK
