"""`saekit audit`: ConceptScope dataset audit (target / context / bias concepts per class, robustness
sub-groups) of a labelled image dataset through an SAE; writes audit.json, index.html and examples/."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("ConceptScope dataset audit: target, context and bias concepts per class from an SAE, "
        "robustness sub-groups (writes audit.json + index.html)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="image model spec the SAE was trained on (hf:..., random:clip, offline:dinov2-small)")
    p.add_argument("--data", required=True, help="labelled image dataset: a folder with one sub-folder per class, hfds:DIR, bundled:clipart")
    p.add_argument("--sae", required=True, type=Path, help="SAE checkpoint directory (trained on patch or all tokens)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--alpha", type=float, default=1.0, help="target if the alignment's z-score in the class is >= alpha (default 1.0)")
    p.add_argument("--sigma", type=float, default=1.0, help="bias if the class mean is >= mean + sigma*std of the context means (default 1.0)")
    p.add_argument("--per-class", type=int, default=128, help="images sampled per class for the alignment scores (default 128)")
    p.add_argument("--top-k", type=int, default=20, help="latents per class by class-mean activation (default 20)")
    p.add_argument("--text-space", default=None,
                   help="text space: a `saekit align` output directory (needed for encoders without a text tower) "
                        "or a CLIP model spec; default: the model's own text tower")
    p.add_argument("--classifier", choices=("none", "probe", "zero-shot", "logits"), default="none",
                   help="classifier for accuracy per sub-group: probe = logistic regression on the model's pooled "
                        "features of the audited images; zero-shot = nearest class text; logits = the model's class head")
    p.add_argument("--test-data", default=None, help="test images for the sub-groups (default: hold out --test-frac of --data)")
    p.add_argument("--test-frac", type=float, default=None,
                   help="fraction of each class held out as test images when --test-data is not given (default 0.2; 0: no sub-groups)")
    p.add_argument("--names", type=Path, default=None, help="directory of `saekit name` output (names.json) for concept names")
    p.add_argument("--vocab", default="default",
                   help="without --names: name concepts by the closest word of this vocabulary file in the text "
                        "space (top-images naming); 'default' = the shipped vocabulary, 'none' = 'latent N'")
    p.add_argument("--hook", default=None, help="hook to read (default: the SAE's own hook; must match it)")
    p.add_argument("--active-threshold", type=float, default=0.5,
                   help="a latent is active on an image when its image-level activation exceeds this (default 0.5)")
    p.add_argument("--noisy-freq", type=float, default=0.9,
                   help="latents firing on more than this fraction of the images of every class are noisy (default 0.9)")
    p.add_argument("--min-lift", type=float, default=1.5,
                   help="a bias must be this many times stronger in its class than in the others (default 1.5; 0 = paper's rule)")
    p.add_argument("--min-per-class", type=int, default=5, help="minimum audited images per class (default 5)")
    p.add_argument("--prompt", default="{}", help="class text template, {} = class name (default: the bare name, as the paper)")
    p.add_argument("--examples", type=int, default=4, help="example images per concept (default 4)")
    p.add_argument("--batch-size", type=int, default=32, help="images per model forward (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print audit.json to stdout")


def _names_from(names_dir: Path | None, sae, sae_fp: str) -> tuple[dict[int, str] | None, str]:
    from saekit.errors import SaekitError
    from saekit.jsonfile import read_json_object

    if names_dir is not None:
        path = names_dir / "names.json" if names_dir.is_dir() else names_dir
        if not path.exists():
            raise SaekitError(f"--names {names_dir}: no names.json there (run `saekit name --out DIR` first)")
        doc = read_json_object(path, "--names")
        fp = (doc.get("sae") or {}).get("fingerprint")
        if fp and fp != sae_fp:
            raise SaekitError(f"--names {path} was made for SAE {fp}, not this SAE ({sae_fp}); name this SAE first")
        return {int(x["latent"]): str(x.get("name") or f"latent {x['latent']}") for x in doc.get("latents", [])}, "names.json"
    return None, "latent index"


def run(args: argparse.Namespace) -> int:
    from saekit.analysis.concept_backend import ModelBackend
    from saekit.analysis.concept_report import write_report
    from saekit.analysis.conceptscope import AuditConfig, SampleView, audit, holdout_split, sample_meta
    from saekit.results.fingerprint import dataset_fingerprint, sae_fingerprint
    from saekit.data import load_dataset
    from saekit.errors import SaekitError
    from saekit.models import load_model
    from saekit.sae import SAE

    cfg = AuditConfig(alpha=args.alpha, sigma=args.sigma, n_per_class=args.per_class, top_k=args.top_k,
                      active_threshold=args.active_threshold, noisy_freq=args.noisy_freq, min_lift=args.min_lift,
                      min_images_per_class=args.min_per_class, prompt=args.prompt, n_examples=args.examples,
                      batch_size=args.batch_size, seed=args.seed)
    if not args.sae.exists():
        raise SaekitError(f"--sae {args.sae} does not exist (expected an SAE checkpoint directory)")
    if args.test_data is not None and args.test_frac is not None:
        raise SaekitError("give either --test-data or --test-frac, not both")
    test_frac = 0.2 if args.test_frac is None else args.test_frac
    ds = load_dataset(args.data)
    if ds.modality == "text":
        raise SaekitError(f"--data {args.data!r} holds texts; the audit needs labelled images")
    model = load_model(args.model, device=args.device)
    sae = SAE.load(args.sae, device=model.device)
    text_space, text_tokens = (_load_text_space(args.text_space, model.device) if args.text_space is not None
                               else (None, "all"))
    backend = ModelBackend(model, sae, text_space, hook=args.hook, text_tokens=text_tokens)

    all_view = SampleView(ds)
    ids, labels = sample_meta(all_view, "dataset")
    if args.test_data is not None:
        tds = load_dataset(args.test_data)
        train, test = all_view, SampleView(tds)
    else:
        train_rows, test_rows = holdout_split(labels, test_frac, args.seed)
        train = SampleView(ds, train_rows)
        test = SampleView(ds, test_rows) if test_rows else None
        if test is not None:
            _check_holdout(labels, train_rows, cfg.min_images_per_class, test_frac)
    if test is None and args.classifier != "none":
        raise SaekitError("--classifier needs test images: pass --test-data or a --test-frac above 0")

    fp = sae_fingerprint(sae)
    names, names_source = _names_from(args.names, sae, fp)
    result = audit(backend, train, cfg, test_samples=test, classifier=args.classifier, names=names)
    if names is None and args.vocab != "none":
        from saekit.analysis.concept_names import apply_names, vocabulary_names
        from saekit.data.vocab import load_vocab

        words = load_vocab(None if args.vocab == "default" else args.vocab)
        named = vocabulary_names(backend, result, train, words, seed=args.seed, batch_size=args.batch_size)
        apply_names(result, {j: w for j, (w, _) in named.items()})
        names_source = f"vocabulary ({'default' if args.vocab == 'default' else args.vocab}, top-images)"
    meta = {
        "sae": {"path": str(args.sae), "fingerprint": fp, "hook": backend.hook, "d_sae": sae.cfg.d_sae,
                "tokens": backend.tokens, "arch": sae.cfg.arch},
        "model": {"id": model.model_id, "revision": getattr(model, "revision", "")},
        "dataset": {"spec": args.data, "fingerprint": dataset_fingerprint(ids, labels), "n_total": len(ids),
                    "held_out": 0 if test is None or args.test_data else len(test)},
        "test": None if test is None else {"spec": args.test_data or f"{test_frac:g} of --data held out",
                                           "n_images": len(test)},
        "text_space": ({"kind": "model", "model": model.model_id} if backend.text_space is None
                       else {**backend.text_space.describe(), "spec": str(args.text_space)}),
        "names": names_source,
    }
    path = write_report(result, backend, train, args.out, meta)
    if args.json:
        print(path.read_text())
        return 0
    print(f"{result.n_images} images, {len(result.class_names)} classes, {result.n_valid} valid latents")
    for c in result.classes:
        print(f"  {c.name}: {len(c.target)} target, {len(c.context)} context, {len(c.bias)} bias")
    biases = result.biases()
    if biases:
        print("strongest biases:")
        for b in biases[:10]:
            print(f"  {b['class']}: {b['name']} (latent {b['latent']}), {b['strength']:.2f} sigma, lift {b['lift']:.3g}")
    if result.accuracy_by_group:
        acc = result.accuracy_by_group
        print("accuracy by group: " + ", ".join(
            f"{g} {acc[g]['accuracy']:.3f} (n={acc[g]['n']})" if acc[g]["accuracy"] is not None else f"{g} - (n=0)"
            for g in ("prototype", "confounded", "shortcut", "ambiguous", "all")))
    print(f"wrote {path} and {args.out / 'index.html'}")
    return 0


def _check_holdout(labels: list[str], train_rows: list[int], min_images: int, test_frac: float) -> None:
    from collections import Counter

    from saekit.errors import SaekitError

    total = Counter(labels)
    kept = Counter(labels[i] for i in train_rows)
    for name in sorted(total):
        if kept[name] < min_images:
            raise SaekitError(
                f"class {name!r} has {total[name]} image(s); after holding out {test_frac:g} for testing {kept[name]} "
                f"remain, and the audit needs at least {min_images} per class (add images, lower --test-frac or pass --test-data)")


def _load_text_space(spec: str, device):
    """A `saekit align` output directory (fitted map) or a CLIP model spec; plus the token selection of the
    store the map was fitted on (its features are that store's rows pooled), "all" when unknown."""
    from saekit.analysis.alignment import load_text_space, read_align_json

    space = load_text_space(spec, device=str(device))
    tokens = "all"
    p = Path(spec)
    if p.is_dir():
        store_path = (read_align_json(p).get("store") or {}).get("path")
        if store_path and Path(store_path).exists():
            try:
                from stores import ActivationStore

                tokens = str(ActivationStore.open(store_path).attrs.get("tokens") or "all")
            except Exception:  # the store is only a hint for pooling; its absence is not an error
                tokens = "all"
    return space, tokens
