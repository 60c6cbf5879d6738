# The guardian bench on a lent GPU machine (device tool): the tiny model on cuda, then a Qwen2.5-0.5B-shaped
# random body in bf16. $OUT is the folder the device tool brings back; elsewhere set OUT yourself.
OUT=${OUT:-/tmp/gpu-guardian}; mkdir -p "$OUT"
set -x
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv
python3 -c "import torch, transformers, peft, sklearn; print(torch.__version__, transformers.__version__, peft.__version__)"
timeout 120 python3 bench/guardian_training.py --device cuda > $OUT/tiny_cuda.json 2> $OUT/tiny_cuda.err; tail -3 $OUT/tiny_cuda.err; cat $OUT/tiny_cuda.json
timeout 300 python3 bench/guardian_training.py --device cuda --shape 0.5b --bf16 --epochs 1 --max-length 256 --labels 1000 > $OUT/half_b.json 2> $OUT/half_b.err; tail -5 $OUT/half_b.err; cat $OUT/half_b.json
