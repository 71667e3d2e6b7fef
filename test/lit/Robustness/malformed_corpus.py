"""Feed lean-mlir-opt a corpus of broken netspec IR; each must be rejected cleanly.

The corpus is derived from one valid model (argv[1]) with a fixed seed:
truncations inside the module, junk bytes inserted outside string literals,
and ill-typed variants (a dimension or the element type changed in one type).
Each case must end with exit status 1 and an `error:` diagnostic: never a
signal, a hang, or a silent success. Prints one summary line for FileCheck.
"""

import random
import re
import subprocess
import sys

TIMEOUT_S = 20


def cases(text: str, rng: random.Random):
    start, end = text.index("{") + 1, text.rindex("}")
    for cut in sorted(rng.sample(range(start, end), 60)):
        yield f"truncated at byte {cut}", text[:cut].encode()
    # Positions outside "..." string literals, where junk cannot hide.
    outside, in_string = [], False
    for i, ch in enumerate(text):
        if ch == '"':
            in_string = not in_string
        elif not in_string and start <= i < end:
            outside.append(i)
    # No NUL: MLIR's lexer reads an embedded NUL as whitespace, so the IR
    # stays the same valid model.
    junk = [b"}", b"]", b")", b'"', b"\x7f", b"\xff", b"^", b"&", b"{"]
    data = text.encode()
    for pos in sorted(rng.sample(outside, 60)):
        j = rng.choice(junk)
        yield f"junk {j!r} at byte {pos}", data[:pos] + j + data[pos:]
    types = list(re.finditer(r"tensor<([^>]*)>", text))
    for m in rng.sample(types, min(40, len(types))):
        dims = m.group(1).split("x")
        k = rng.randrange(len(dims) - 1)
        if dims[k] == "?":
            dims[k] = "3"
        else:
            dims[k] = str(int(dims[k]) + rng.choice([-1, 1, 7]))
        bad = "tensor<" + "x".join(dims) + ">"
        yield f"type {m.group(0)} -> {bad} at byte {m.start()}", (
            text[: m.start()] + bad + text[m.end():]).encode()
    for m in rng.sample(types, min(10, len(types))):
        bad = m.group(0).replace("f32", rng.choice(["f16", "i32", "bf16"]))
        yield f"element type {bad} at byte {m.start()}", (
            text[: m.start()] + bad + text[m.end():]).encode()


def main() -> int:
    with open(sys.argv[1]) as f:
        text = f.read()
    rng = random.Random(20261124)
    total, failures = 0, []
    for name, data in cases(text, rng):
        total += 1
        try:
            proc = subprocess.run(["lean-mlir-opt", "-"], input=data, capture_output=True, check=False,
                                  timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            failures.append(f"{name}: hang (no exit within {TIMEOUT_S}s)")
            continue
        err = proc.stderr.decode(errors="replace")
        if proc.returncode != 1:
            failures.append(f"{name}: exit status {proc.returncode}\n{err[-2000:]}")
        elif "error:" not in err:
            failures.append(f"{name}: exit 1 but no error diagnostic:\n{err[-2000:]}")
    for failure in failures:
        print("FAILED", failure)
    print(f"corpus: {total} cases, {total - len(failures)} rejected with a diagnostic and exit 1")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
