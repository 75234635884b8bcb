#!/usr/bin/env python3
"""Makes PyTorch's reference numbers for recur's optimizers, gradient
clipping and learning-rate schedules: tests/fixtures/optim_reference.h.

Optimizers: three small parameters (15, 4 and 1 elements: sizes that use
both torch's vectorised loop and its scalar tail) start from fixed values
and take STEPS steps of torch.optim.<kind> (single-tensor code,
foreach=False) with a fixed sequence of gradients and a learning rate that
changes every step (lr_k = lr * (1 - 0.1 k)). The header holds the starting
values, the gradients and, for every configuration, the parameters after
each step. tests/test_optim.c replays the same steps with rc_optim and
compares.

Clipping: torch.nn.utils.clip_grad_norm_ on the first step's gradients
for a few max_norm values: the total norm and the clipped gradients.

Schedules: StepLR's lr over a few epochs, and ReduceLROnPlateau's lr and
state after each metric of a fixed sequence, for a few option sets.

usage: /usr/bin/python3 scripts/make_optim_reference.py [OUT.h]
"""
import math
import os
import sys

import torch

STEPS = 6
SHAPES = [(3, 5), (4,), (1,)]
SIZES = [math.prod(s) for s in SHAPES]
N = sum(SIZES)

# name, kind, options (torch argument names)
CASES = [
    ("sgd_plain", "sgd", dict(lr=0.1)),
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd_dampening", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("sgd_nesterov", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd_weight_decay", "sgd", dict(lr=0.1, weight_decay=0.05)),
    ("sgd_momentum_wd", "sgd", dict(lr=0.05, momentum=0.5, weight_decay=0.1)),
    ("sgd_nesterov_wd", "sgd", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("adam", "adam", dict(lr=0.01)),
    ("adam_wd", "adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adam_beta1_zero", "adam", dict(lr=0.01, betas=(0.0, 0.9))),
    ("adamw", "adamw", dict(lr=0.01)),  # torch's default weight_decay 1e-2
    ("adamw_wd", "adamw", dict(lr=0.02, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.3)),
    ("rmsprop", "rmsprop", dict(lr=0.01)),
    ("rmsprop_centered", "rmsprop", dict(lr=0.01, centered=True)),
    ("rmsprop_momentum", "rmsprop", dict(lr=0.01, momentum=0.9)),
    ("rmsprop_all", "rmsprop",
     dict(lr=0.005, alpha=0.9, eps=1e-6, centered=True, momentum=0.5, weight_decay=0.1)),
]

CLIP_MAX_NORMS = [1.0, 3.0, 1000.0]

STEPLR = dict(lr=0.5, step_size=3, gamma=0.1, epochs=10)

# Fed in turn to every plateau case, times its "sign" (-1 turns the
# decreasing stretches into improvements for mode max).
METRICS = [1.0, 0.9, 0.95, 0.9, 0.92, 0.89996, 0.91, 0.85, 0.86, 0.87, 0.88, 0.84,
           float("nan"), 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.81, 0.79,
           0.7999, 0.85, 0.9, 0.95, 1.0]
PLATEAU = [
    ("plateau_defaults", dict(lr=0.1, factor=0.1, patience=10, cooldown=0, min_lr=0.0)),
    ("plateau_patience2_cooldown1", dict(lr=0.1, factor=0.5, patience=2, cooldown=1,
                                         min_lr=0.02)),
    ("plateau_patience0", dict(lr=1.0, factor=0.5, patience=0, cooldown=0, min_lr=0.1)),
    ("plateau_max_abs", dict(lr=0.1, factor=0.3, patience=1, cooldown=2, min_lr=0.0,
                             mode="max", threshold=0.02, threshold_mode="abs", sign=-1.0)),
    ("plateau_max_rel", dict(lr=0.1, factor=0.5, patience=1, cooldown=0, min_lr=0.001,
                             mode="max", threshold=0.05, sign=-1.0)),
    ("plateau_min_abs", dict(lr=0.1, factor=0.5, patience=1, cooldown=0, min_lr=0.001,
                             threshold=0.03, threshold_mode="abs")),
]


def initial_values(g):
    return torch.empty(N).uniform_(-1.0, 1.0, generator=g)


def gradients(g):
    grads = torch.randn(STEPS, N, generator=g)
    grads[:, 3] = 0.0                    # an element whose gradient is always zero
    grads[2, 5] = 40.0                   # a large one
    grads[:, 7] *= 1e-3                  # a small one
    grads[4, N - 1] = -3.0
    return grads


def split(flat):
    out, k = [], 0
    for shape, size in zip(SHAPES, SIZES):
        out.append(flat[k:k + size].reshape(shape))
        k += size
    return out


def run_optimizer(kind, opts, init, grads):
    params = [torch.nn.Parameter(t.clone()) for t in split(init)]
    opts = dict(opts)
    base_lr = opts["lr"]
    cls = dict(sgd=torch.optim.SGD, adam=torch.optim.Adam, adamw=torch.optim.AdamW,
               rmsprop=torch.optim.RMSprop)[kind]
    opt = cls(params, foreach=False, **opts)
    after = []
    for k in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = base_lr * (1.0 - 0.1 * k)
        for p, gk in zip(params, split(grads[k])):
            p.grad = gk.clone()
        opt.step()
        after.append(torch.cat([p.detach().reshape(-1) for p in params]))
    return after


def c_float(v):
    """A float32 value as a C float literal that reads back exactly."""
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    s = "%.9g" % v
    if not any(c in s for c in ".e"):
        s += ".0"
    return s + "f"


def c_floats(values, per_line=6, indent="    "):
    vals = [c_float(v) for v in values]
    lines = [indent + ", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    return "{\n" + ",\n".join(lines) + "}"


def c_double(v):
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return repr(float(v))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
        "optim_reference.h"))
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(20240601)
    init = initial_values(g)
    grads = gradients(g)

    w = []
    w.append("/* optim_reference.h - PyTorch %s's numbers for tests/test_optim.c.\n"
             " * Generated by scripts/make_optim_reference.py; do not edit. */\n"
             % torch.__version__)
    w.append("#ifndef OPTIM_REFERENCE_H\n#define OPTIM_REFERENCE_H\n\n#include <math.h>\n")
    w.append("#define OREF_STEPS %d\n#define OREF_NPARAMS %d\n#define OREF_N %d\n"
             % (STEPS, len(SHAPES), N))
    w.append("static const int oref_ndim[OREF_NPARAMS] = {%s};"
             % ", ".join(str(len(s)) for s in SHAPES))
    w.append("static const int oref_shape[OREF_NPARAMS][2] = {%s};\n"
             % ", ".join("{%s}" % ", ".join(str(d) for d in (list(s) + [0])[:2])
                         for s in SHAPES))
    w.append("/* All parameters back to back, before the first step. */")
    w.append("static const float oref_init[OREF_N] = %s;\n" % c_floats(init.tolist()))
    w.append("/* The gradient of every step (all parameters back to back). */")
    w.append("static const float oref_grads[OREF_STEPS][OREF_N] = {")
    w.append(",\n".join(c_floats(grads[k].tolist(), indent="    ") for k in range(STEPS)))
    w.append("};\n")
    w.append("/* Step k uses lr * (1 - 0.1 k). Unset options are torch's defaults. */")
    w.append("typedef struct oref_case {\n"
             "    const char *name, *kind;\n"
             "    double lr, weight_decay, momentum, dampening;\n"
             "    int nesterov;\n"
             "    double beta1, beta2, eps, alpha;\n"
             "    int centered;\n"
             "    float after[OREF_STEPS][OREF_N]; /* parameters after each step */\n"
             "} oref_case;\n")
    w.append("static const oref_case oref_cases[] = {")
    for name, kind, opts in CASES:
        after = run_optimizer(kind, opts, init, grads)
        defaults = dict(weight_decay=(1e-2 if kind == "adamw" else 0.0), momentum=0.0,
                        dampening=0.0, nesterov=False, betas=(0.9, 0.999), eps=1e-8,
                        alpha=0.99, centered=False)
        o = dict(defaults, **opts)
        head = ('    {"%s", "%s", %s, %s, %s, %s, %d, %s, %s, %s, %s, %d,\n'
                % (name, kind, c_double(o["lr"]), c_double(o["weight_decay"]),
                   c_double(o["momentum"]), c_double(o["dampening"]), int(o["nesterov"]),
                   c_double(o["betas"][0]), c_double(o["betas"][1]), c_double(o["eps"]),
                   c_double(o["alpha"]), int(o["centered"])))
        body = "{" + ",\n".join(c_floats(a.tolist(), indent="      ") for a in after) + "}}"
        w.append(head + "     " + body + ",")
    w.append("};\n")

    # clipping
    w.append("/* clip_grad_norm_ of step 0's gradients. */")
    w.append("typedef struct oref_clip {\n    double max_norm;\n    float total_norm;\n"
             "    float grads[OREF_N];\n} oref_clip;\n")
    w.append("static const oref_clip oref_clips[] = {")
    for max_norm in CLIP_MAX_NORMS:
        params = [torch.nn.Parameter(t.clone()) for t in split(init)]
        for p, gk in zip(params, split(grads[0])):
            p.grad = gk.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm)
        clipped = torch.cat([p.grad.reshape(-1) for p in params])
        w.append("    {%s, %.9gf, %s}," % (c_double(max_norm), float(total),
                                          c_floats(clipped.tolist(), indent="      ")))
    w.append("};\n")

    # StepLR
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=STEPLR["lr"])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=STEPLR["step_size"],
                                            gamma=STEPLR["gamma"])
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(STEPLR["epochs"]):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    w.append("/* StepLR(lr %s, step_size %d, gamma %s): the lr after t = 0..%d scheduler "
             "steps. */" % (STEPLR["lr"], STEPLR["step_size"], STEPLR["gamma"],
                            STEPLR["epochs"]))
    w.append("#define OREF_STEPLR_LR %s\n#define OREF_STEPLR_SIZE %d\n#define OREF_STEPLR_GAMMA %s"
             % (c_double(STEPLR["lr"]), STEPLR["step_size"], c_double(STEPLR["gamma"])))
    w.append("static const double oref_steplr[%d] = {%s};\n"
             % (len(lrs), ", ".join(c_double(x) for x in lrs)))

    # ReduceLROnPlateau
    w.append("/* ReduceLROnPlateau fed these metrics in turn. */")
    w.append("#define OREF_N_METRICS %d" % len(METRICS))
    w.append("static const double oref_metrics[OREF_N_METRICS] = {%s};\n"
             % ", ".join(c_double(m) for m in METRICS))
    w.append("typedef struct oref_plateau {\n    const char *name;\n"
             "    double lr, factor;\n    int patience, cooldown;\n    double min_lr;\n"
             "    int mode_max;\n    double threshold;\n    int threshold_abs;\n"
             "    double sign; /* the metrics are fed times this */\n"
             "    /* after each metric: lr, best, num_bad_epochs, cooldown_counter */\n"
             "    double lr_after[OREF_N_METRICS], best_after[OREF_N_METRICS];\n"
             "    int bad_after[OREF_N_METRICS], cooldown_after[OREF_N_METRICS];\n"
             "} oref_plateau;\n")
    w.append("static const oref_plateau oref_plateaus[] = {")
    for name, o in PLATEAU:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=o["lr"])
        kw = {k: v for k, v in o.items() if k not in ("lr", "sign")}
        sign = o.get("sign", 1.0)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
        lr_after, best_after, bad_after, cd_after = [], [], [], []
        for m in METRICS:
            sched.step(sign * m)
            lr_after.append(opt.param_groups[0]["lr"])
            best_after.append(sched.best)
            bad_after.append(sched.num_bad_epochs)
            cd_after.append(sched.cooldown_counter)
        w.append('    {"%s", %s, %s, %d, %d, %s, %d, %s, %d, %s,\n     {%s},\n     {%s},\n'
                 '     {%s},\n     {%s}},'
                 % (name, c_double(o["lr"]), c_double(o["factor"]), o["patience"],
                    o["cooldown"], c_double(o["min_lr"]), int(o.get("mode", "min") == "max"),
                    c_double(o.get("threshold", 1e-4)),
                    int(o.get("threshold_mode", "rel") == "abs"), c_double(sign),
                    ", ".join(c_double(x) for x in lr_after),
                    ", ".join(c_double(x) for x in best_after),
                    ", ".join(str(x) for x in bad_after),
                    ", ".join(str(x) for x in cd_after)))
    w.append("};\n")
    w.append("#endif")
    text = "\n".join(w) + "\n"
    with open(out, "w") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (out, len(text)))


if __name__ == "__main__":
    main()
