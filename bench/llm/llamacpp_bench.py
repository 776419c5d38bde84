"""llama.cpp (llama-cpp-python) side of bench/llm/run: same prompt, same greedy loop, same timing as llm-bench.

  python llamacpp_bench.py speed  MODEL THREADS PROMPT_IDS GEN REPS   -> one JSON line
  python llamacpp_bench.py greedy MODEL PROMPT_IDS GEN                -> one JSON line with the greedy tokens
  python llamacpp_bench.py tokenize MODEL TEXT                         -> comma-separated ids (special tokens parsed)
"""
import json
import statistics
import sys
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama


def load(path, threads):
    return Llama(model_path=path, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=threads,
                 n_threads_batch=threads, seed=1234, logits_all=False, verbose=False)


def last_logits(llm):
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "tokenize":
        llm = load(path, 1)
        ids = llm.tokenize(sys.argv[3].encode(), add_bos=False, special=True)
        print(",".join(map(str, ids)))
    elif mode == "greedy":
        llm = load(path, 2)
        prompt = [int(x) for x in sys.argv[3].split(",")]
        gen = int(sys.argv[4])
        llm.reset()
        llm.eval(prompt)
        out = []
        for _ in range(gen):
            tok = int(np.argmax(last_logits(llm)))
            out.append(tok)
            llm.eval([tok])
        print(json.dumps({"impl": "llamacpp", "tokens": out}))
    elif mode == "speed":
        threads, prompt = int(sys.argv[3]), [int(x) for x in sys.argv[4].split(",")]
        gen, reps = int(sys.argv[5]), int(sys.argv[6])
        llm = load(path, threads)
        prompt_rates, gen_rates = [], []
        for rep in range(reps + 1):  # rep 0 warms up
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(prompt)
            t1 = time.perf_counter()
            tok = int(np.argmax(last_logits(llm)))
            for _ in range(gen):
                llm.eval([tok])
                tok = int(np.argmax(last_logits(llm)))
            t2 = time.perf_counter()
            if rep > 0:
                prompt_rates.append(len(prompt) / (t1 - t0))
                gen_rates.append(gen / (t2 - t1))
        print(json.dumps({"impl": "llamacpp", "threads": threads, "prompt_tokens": len(prompt), "gen_tokens": gen,
                          "prompt_tok_per_s": statistics.median(prompt_rates),
                          "gen_tok_per_s": statistics.median(gen_rates)}))


if __name__ == "__main__":
    main()
