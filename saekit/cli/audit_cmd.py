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
    p.add_argument("--sae", required=True, help="SAE (trained on patch or all tokens): a saekit checkpoint directory or "
                   "FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--alpha", type=float, default=1.0, help="target if the alignment's z-score in the class is >= alpha (default 1.0)")
    p.add_argument("--sigma", type=float, default=1.0, help="bias rule paper: class mean >= mean + sigma*std of the context means (default 1.0)")
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
    p.add_argument("--validity", choices=("relative", "absolute"), default="relative",
                   help="relative (default): a latent is active on an image above --active-threshold x its own "
                        "maximum over the audited images; absolute: above --active-threshold in the SAE's units (the paper's)")
    p.add_argument("--active-threshold", type=float, default=0.5,
                   help="activity threshold for valid latents (default 0.5; see --validity)")
    p.add_argument("--noisy-freq", type=float, default=0.9,
                   help="latents firing on more than this fraction of the images of every class are noisy (default 0.9)")
    p.add_argument("--bias-rule", choices=("lift", "paper"), default="lift",
                   help="lift (default): a context concept is a bias when it is disproportionately active in the class "
                        "(lift >= --min-lift and class-vs-rest AUC >= --min-auc); paper: class mean >= mean + "
                        "--sigma x std of the class's context means")
    p.add_argument("--min-lift", type=float, default=2.0,
                   help="bias rule lift: class mean / mean over the other classes (default 2.0)")
    p.add_argument("--min-auc", type=float, default=0.7,
                   help="bias rule lift: class-vs-rest AUC of the image-level activation (default 0.7)")
    p.add_argument("--similarity", choices=("auto", "cosine", "shifted"), default="auto",
                   help="image-text similarity in the alignment ratios: cosine (the paper's), shifted = (1+cos)/2; "
                        "auto (default): cosine with the model's own text tower, shifted with a fitted --text-space")
    p.add_argument("--min-per-class", type=int, default=5, help="minimum audited images per class (default 5)")
    p.add_argument("--prompt", default="{}", help="class text template, {} = class name (default: the bare name, as the paper)")
    p.add_argument("--examples", type=int, default=4, help="example images per concept (default 4)")
    p.add_argument("--batch-size", type=int, default=32, help="images per model forward (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print audit.json to stdout")


def config_from(args: argparse.Namespace):
    from saekit.analysis.audit import AuditConfig

    return AuditConfig(
        model=args.model, data=args.data, sae=str(args.sae), out=str(args.out), text_space=args.text_space,
        classifier=args.classifier, test_data=args.test_data, test_frac=args.test_frac,
        names=None if args.names is None else str(args.names), vocab=args.vocab, hook=args.hook, device=args.device,
        alpha=args.alpha, sigma=args.sigma, n_per_class=args.per_class, top_k=args.top_k, validity=args.validity,
        active_threshold=args.active_threshold, noisy_freq=args.noisy_freq, bias_rule=args.bias_rule,
        min_lift=args.min_lift, min_auc=args.min_auc, similarity=args.similarity,
        min_images_per_class=args.min_per_class, prompt=args.prompt, n_examples=args.examples,
        batch_size=args.batch_size, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    from saekit.analysis.audit import audit

    run_ = audit(config_from(args))
    result, path = run_.result, run_.path
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
            print(f"  {b['class']}: {b['name']} (latent {b['latent']}), lift {b['lift']:.3g}, AUC {b['auc']:.2f}")
    if result.accuracy_by_group:
        acc = result.accuracy_by_group
        print("accuracy by group: " + ", ".join(
            f"{g} {acc[g]['accuracy']:.3f} (n={acc[g]['n']})" if acc[g]["accuracy"] is not None else f"{g} - (n=0)"
            for g in ("prototype", "confounded", "shortcut", "ambiguous", "all")))
    n_img = result.n_images + (0 if result.test_acts_ND is None else len(result.test_acts_ND))
    print(f"{run_.timings['total']:.1f} s ({run_.timings['total'] / max(1, n_img):.2f} s per image; "
          f"{result.n_forwarded} of {result.n_masked} masked copies needed a forward)")
    print(f"wrote {path} and {Path(args.out) / 'index.html'}")
    return 0
