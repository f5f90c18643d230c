#!/usr/bin/env python3
"""Dev-only fixture generator (not part of the product, which has no Python).

Records what SentencePiece itself (the library LaVIN's lavin/tokenizer.py wraps) returns for tricky
strings, so test/unit/tokenizer.test.ts can check server/engine/tokenizer.ts id-for-id.

    apt-get install python3-sentencepiece        # Debian bookworm: sentencepiece 0.1.97
    /usr/bin/python3 test/data/tokenizer/generate_expected.py

Reads tokenizer.model next to this script, writes expected.json next to it.
"""
import hashlib
import json
import os

import sentencepiece

HERE = os.path.dirname(os.path.abspath(__file__))

# LaVIN's prefixes and prompt formats first, then strings that stress normalisation and byte fallback.
STRINGS = [
    "",
    "Image: ",
    "Image: N/A",
    "Instruction: What is in this picture?\nResponse:",
    "Question: Which of these states is farthest north?\nContext: N/A\nOptions: (A) West Virginia (B) Louisiana\nResponse:",
    "The answer is A. BECAUSE: lecture solution",
    "hello",
    " hello",
    "hello ",
    "  two  spaces  inside",
    "   ",
    "\n",
    "line one\nline two\n\nline four",
    "tab\tseparated\tvalues",
    "12345",
    "3.14159 and 1,000,000",
    "naïve café résumé Zürich",
    "中文字符和日本語のテキスト",
    "emoji 😀👍🏽 and flags 🇫🇷",
    "math ∑∫√ and arrows →⇒",
    "€ costs 5€",
    "function add(a, b) {\n    return a + b;\n}\n",
    "if (x) {\n\tfoo();\n} else {\n  bar();\n}",
    "def f(x):\n    return {'k': [x, x**2]}\n",
    "literal <s> and </s> and <unk> text",
    "<0xE2> is not a byte token",
    "ALL CAPS and MiXeD cAsE",
    "a\u200bzero width\u00a0nbsp",
    "\u0301combining accent first",
]


def main():
    model_path = os.path.join(HERE, "tokenizer.model")
    sp = sentencepiece.SentencePieceProcessor(model_file=model_path)
    with open(model_path, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    cases = []
    for s in STRINGS:
        ids = sp.encode(s)
        cases.append({
            "text": s,
            "ids": ids,
            "pieces": [sp.id_to_piece(i) for i in ids],
            "decoded": sp.decode(ids),
        })
    # Decoding edge cases: control tokens, unknown, lone/incomplete byte-fallback pieces.
    decode_cases = [[1], [2], [0], [29871], [1, 29871, 450], [450, 29871], [232], [232, 131], [232, 131, 133],
                    [1, 450, 2, 450], [29871, 29871, 450]]
    out = {
        "generator": "test/data/tokenizer/generate_expected.py",
        "sentencepiece_version": sentencepiece.__version__,
        "model_sha256": sha256,
        "vocab_size": sp.vocab_size(),
        "bos_id": sp.bos_id(),
        "eos_id": sp.eos_id(),
        "unk_id": sp.unk_id(),
        "pad_id": sp.pad_id(),
        "cases": cases,
        "decode_cases": [{"ids": ids, "decoded": sp.decode(ids)} for ids in decode_cases],
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} encode cases, {len(decode_cases)} decode cases")


if __name__ == "__main__":
    main()
