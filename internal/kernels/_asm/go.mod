module github.com/fovea-ml/fovea/internal/kernels/_asm

go 1.26

replace github.com/fovea-ml/fovea => ../../..

require github.com/mmcloughlin/avo v0.5.0 // indirect
