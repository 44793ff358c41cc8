#!/usr/bin/env bash
# The small-dataset recipes of docs/recipes.md: BreastMNIST from scratch and
# fine-tuned (with and without augmentation), ants vs bees, GTSRB.
# Usage: tools/recipes/small.sh FOVEA_BIN SHARED_DATASETS OUT_DIR [CIFAR_CKPT]
# Each run's log and checkpoint land in OUT_DIR; eval lines are collected in
# OUT_DIR/results.txt. With CIFAR_CKPT (the CIFAR-10 recipe's checkpoint)
# ants vs bees is also fine-tuned from it.
set -euo pipefail
fovea=$1 ds=$2 out=$3 cifar=${4:-}
mkdir -p "$out"
res=$out/results.txt
run() { # name, then train flags
	local name=$1
	shift
	echo "== $name: fovea train $*" | tee -a "$res"
	"$fovea" train "$@" --out "$out/$name.safetensors" --quiet --json >"$out/$name.json" 2>"$out/$name.log"
	cat "$out/$name.json" >>"$res"
}
ev() { # name, eval flags
	local name=$1
	shift
	"$fovea" eval --model "$out/$name.safetensors" "$@" | tee -a "$res"
}
breast=npz:$ds/breastmnist/breastmnist.npz
bm=(--model resnet20 --data "$breast" --epochs 40 --batch-size 32 --optimizer sgd --weight-decay 5e-4)

# Pretraining for the fine-tuned runs: ResNet-20 (one input channel) on
# 30,000 Fashion-MNIST images, the same 28x28 grayscale format.
if [ ! -f "$out/fashion-pretrain.safetensors" ]; then
	run fashion-pretrain --model resnet20 --data fashion-mnist:$ds/fashion-mnist --train-limit 30000 --epochs 3 \
		--batch-size 128 --optimizer sgd --lr 0.1 --weight-decay 5e-4
fi
for seed in 1 2; do
	run breast-scratch-s$seed "${bm[@]}" --lr 0.05 --seed $seed
	ev breast-scratch-s$seed --data "$breast"
	run breast-scratch-aug-s$seed "${bm[@]}" --lr 0.05 --augment medical --seed $seed
	ev breast-scratch-aug-s$seed --data "$breast"
	run breast-finetune-s$seed "${bm[@]}" --lr 0.02 --init "$out/fashion-pretrain.safetensors" --seed $seed
	ev breast-finetune-s$seed --data "$breast"
	run breast-finetune-aug-s$seed "${bm[@]}" --lr 0.02 --augment medical --init "$out/fashion-pretrain.safetensors" --seed $seed
	ev breast-finetune-aug-s$seed --data "$breast"
	run breast-finetune-lrmult-s$seed "${bm[@]}" --lr 0.05 --lr-mult 'fc=1,*=0.2' --augment medical --init "$out/fashion-pretrain.safetensors" --seed $seed
	ev breast-finetune-lrmult-s$seed --data "$breast"
done

hym=$ds/hymenoptera/hymenoptera_data
run ants-bees-scratch --model resnet20 --data "$hym" --size 64 --augment photo --epochs 60 --batch-size 32 \
	--optimizer sgd --lr 0.05 --weight-decay 5e-4
ev ants-bees-scratch --data "$hym"
if [ -n "$cifar" ]; then
	run ants-bees-finetune --model resnet20 --data "$hym" --size 64 --augment photo --epochs 60 --batch-size 32 \
		--optimizer sgd --lr 0.02 --weight-decay 5e-4 --init "$cifar"
	ev ants-bees-finetune --data "$hym"
fi

g=$ds/gtsrb-32x32
run gtsrb --model resnet20 --data $g/gtsrb32-train-subset.tar.gz --test-data $g/gtsrb32-test.tar.gz --augment signs \
	--epochs 30 --batch-size 64 --optimizer sgd --lr 0.1 --weight-decay 5e-4
ev gtsrb --data $g/gtsrb32-test.tar.gz
