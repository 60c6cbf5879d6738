# The SFT → DPO bench on a lent GPU machine (device tool): the tiny model on cuda (a smoke test), then
# Qwen2.5-0.5B- and 1.5B-shaped random bodies in bf16 (200 and 100 steps), under 10 minutes: one device call.
# $OUT is the folder the device tool brings back; elsewhere set OUT yourself.
OUT=${OUT:-/tmp/gpu-policy}; mkdir -p "$OUT"
set -x
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv
python3 -c "import torch, transformers, trl, peft; print(torch.__version__, transformers.__version__, trl.__version__, peft.__version__)"
timeout 60 python3 bench/policy_run.py --device cuda --steps 20 > $OUT/tiny.json 2> $OUT/tiny.err; tail -3 $OUT/tiny.err; cat $OUT/tiny.json
timeout 220 python3 bench/policy_run.py --device cuda --shape 0.5b --bf16 --steps 200 --batch-size 8 --max-length 512 > $OUT/half_b.json 2> $OUT/half_b.err; tail -3 $OUT/half_b.err; cat $OUT/half_b.json
timeout 300 python3 bench/policy_run.py --device cuda --shape 1.5b --bf16 --steps 100 --batch-size 8 --max-length 512 > $OUT/one_half_b.json 2> $OUT/one_half_b.err; tail -3 $OUT/one_half_b.err; cat $OUT/one_half_b.json
