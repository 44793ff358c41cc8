module github.com/fovea-ml/fovea

go 1.26
