#!/usr/bin/env python3
"""Golden token relevance from LXT (PyPI `lxt` 2.1, its efficient mode) on three small
randomly initialised Hugging Face models, for relprop's LXT parity test
(tests/nn/test_lxt_parity.cpp):

  bert   BertForSequenceClassification  2 layers, hidden 32, 4 heads, 3 labels
  gpt2   GPT2LMHeadModel                2 layers, hidden 32, 4 heads (tied head)
  llama  LlamaForCausalLM               2 layers, hidden 32, 4 heads sharing 2 KV heads, SwiGLU

Each model is saved as a Hugging Face folder in tests/data/lxt/<name>/ (config.json and
model.safetensors, float32) and explained in float64 by LXT's AttnLRP and CP-LRP patches,
seeded with the target logit's value (`logit.backward(logit)`, as LXT's examples do); the
token relevance is (inputs_embeds * grad).sum(-1). tests/data/lxt/golden.json holds the
ids, masks, targets, logits and relevance.

What LXT's efficient mode computes, in relprop's terms (so relprop runs with epsilon 0):
  - linear layers, embeddings, residual and position sums: Gradient x Input = LRP-0 / the
    epsilon rule with epsilon 0 (biases absorb their share);
  - q.k^T and A.V: the gradient halved at each factor = the bilinear epsilon/2 rule with
    epsilon 0 (LXT divides q and k by 4 and v by 2, or scores and context by 2 in BERT);
  - softmax: the plain gradient times its input = x (R - s sum R);
  - LayerNorm with std detached = epsilon 0 on the centring, bias absorbing; RMSNorm with
    rsqrt detached = identity; GELU / tanh / SiLU by identity_rule_implicit = identity;
    SwiGLU's product halved = uniform.
  - CP-LRP: q and k detached (A constant, all of A.V's relevance to V); LLaMA's gate
    detached as well (all of the gated product's relevance to up_proj). LXT 2.1 has no
    CP-LRP map for BERT: this script gives it the same treatment by detaching the scores
    where LXT's BERT halves them and leaving the context undivided.

Needs torch >= 2.0 and transformers 4.51 (lxt 2.1's BERT copy imports its internals):
    python -m venv /tmp/lxtenv && /tmp/lxtenv/bin/pip install torch==2.5.1 \
        transformers==4.51.3 safetensors && /tmp/lxtenv/bin/pip install --no-deps lxt==2.1 \
        zennit==0.5.1 torchvision==0.20.1 pillow
    /tmp/lxtenv/bin/python tools/make_lxt_fixtures.py
LXT patches modules globally and for good, so every (model, variant) runs in its own process.
"""
import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "lxt"
VOCAB = 100
MODELS = ("bert", "gpt2", "llama")
VARIANTS = ("attnlrp", "cp-lrp")


def make_model(name):
    import torch
    from transformers import (BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel,
                              LlamaConfig, LlamaForCausalLM)
    torch.manual_seed({"bert": 0, "gpt2": 1, "llama": 2}[name])
    # Weights well away from zero (initializer_range 0.2, not HF's 0.02), so the softmax is
    # far from uniform and every rule matters.
    if name == "bert":
        cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, num_labels=3,
                         initializer_range=0.2, attn_implementation="eager")
        model = BertForSequenceClassification(cfg)
    elif name == "gpt2":
        cfg = GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                         initializer_range=0.2, bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1,
                         attn_implementation="eager")
        model = GPT2LMHeadModel(cfg)
    else:
        cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                          rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                          initializer_range=0.2, bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1,
                          attn_implementation="eager")
        model = LlamaForCausalLM(cfg)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            # Fresh norms are 1 / 0 and biases 0: make them non-trivial.
            if "norm" in pname.lower() or "ln_" in pname or pname.endswith(".bias"):
                p.add_(0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


def cases(name):
    import torch
    g = torch.Generator().manual_seed(11)
    out = []
    for length in (7, 12):
        ids = torch.randint(0, VOCAB - 1, (length,), generator=g).tolist()
        out.append({"input_ids": ids})
    if name == "bert":
        # Padding: the last three tokens masked out.
        ids = torch.randint(0, VOCAB - 1, (10,), generator=g).tolist()
        out.append({"input_ids": ids, "attention_mask": [1] * 7 + [0] * 3, "token_type_ids": [0] * 5 + [1] * 5})
    return out


def explain(name, variant):
    """One (model, variant) in this process: LXT patched in, float64, every case."""
    import torch
    import lxt.efficient.models as lxt_models
    from lxt.efficient import monkey_patch
    torch.set_num_threads(2)
    if name == "bert":
        import transformers.models.bert.modeling_bert as mod
        import lxt.efficient.models.bert as lxt_bert
        monkey_patch(mod, lxt_bert.attnLRP)
        if variant == "cp-lrp":
            # LXT's BERT calls divide_gradient(scores, 2) then divide_gradient(context, 2) in
            # every self-attention: CP-LRP detaches the first and leaves the second alone.
            calls = {"n": 0}

            def cp_divide(t, factor=2):
                calls["n"] += 1
                return t.detach() if calls["n"] % 2 == 1 else t
            lxt_bert.divide_gradient = cp_divide
    elif name == "gpt2":
        import transformers.models.gpt2.modeling_gpt2 as mod
        monkey_patch(mod, lxt_models.gpt2.attnLRP if variant == "attnlrp" else lxt_models.gpt2.cp_LRP)
    else:
        import transformers.models.llama.modeling_llama as mod
        monkey_patch(mod, lxt_models.llama.attnLRP if variant == "attnlrp" else lxt_models.llama.cp_LRP)
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    auto = AutoModelForSequenceClassification if name == "bert" else AutoModelForCausalLM
    model = auto.from_pretrained(str(OUT / name), attn_implementation="eager",
                                 torch_dtype=torch.float64).eval()
    results = []
    for case in cases(name):
        ids = torch.tensor([case["input_ids"]])
        kwargs = {}
        if "attention_mask" in case:
            kwargs["attention_mask"] = torch.tensor([case["attention_mask"]])
        if "token_type_ids" in case:
            kwargs["token_type_ids"] = torch.tensor([case["token_type_ids"]])
        emb = model.get_input_embeddings()(ids).detach().requires_grad_(True)
        logits = model(inputs_embeds=emb, **kwargs).logits
        logits = logits[0] if name == "bert" else logits[0, -1]
        target = int(logits.argmax())
        logit = logits[target]
        logit.backward(logit.detach())
        relevance = (emb * emb.grad).sum(-1)[0]
        results.append({"target": target, "logit": float(logit), "logits": [float(v) for v in logits],
                        "relevance": [float(v) for v in relevance]})
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(explain(*a.one)))
        return
    import torch
    import transformers
    import lxt  # noqa: F401
    OUT.mkdir(parents=True, exist_ok=True)
    golden = {"lxt": "2.1", "torch": torch.__version__, "transformers": transformers.__version__,
              "dtype": "float64", "seed": "target logit's value", "models": {}}
    for name in MODELS:
        model = make_model(name)
        model.save_pretrained(str(OUT / name), safe_serialization=True)
        (OUT / name / "generation_config.json").unlink(missing_ok=True)
        entry = {"architecture": type(model).__name__, "cases": cases(name)}
        for variant in VARIANTS:
            run = subprocess.run([sys.executable, __file__, "--one", name, variant], check=True,
                                 capture_output=True, text=True)
            for case, r in zip(entry["cases"], json.loads(run.stdout.strip().splitlines()[-1])):
                case["target"] = r["target"]
                case["logits"] = r["logits"]
                case[variant] = r["relevance"]
                total = sum(r["relevance"])
                print(f"{name:6s} {variant:8s} T={len(case['input_ids']):2d} target {r['target']:3d} "
                      f"logit {r['logit']:+.5f} relevance sum {total:+.5f}")
        golden["models"][name] = entry
    (OUT / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
