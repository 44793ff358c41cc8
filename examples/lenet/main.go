// Command lenet trains LeNet-5 on the embedded MNIST with Fovea's Go API and
// exits with an error if it misses its accuracy target. It is the example of
// the README.
package main

import (
	"fmt"
	"log"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/train"
)

func main() {
	trainSet, testSet, err := data.MNIST() // embedded; pixels in [0, 1]
	if err != nil {
		log.Fatal(err)
	}
	trainSet.Normalize([]float32{data.MNISTMean}, []float32{data.MNISTStd})
	testSet.Normalize([]float32{data.MNISTMean}, []float32{data.MNISTStd})

	model := models.NewLeNet5(models.Options{NumClasses: 10, Seed: 1})
	opt := optim.NewSGD(nn.ParamVars(model), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
	loss := nn.CrossEntropyLoss{}
	loader := &data.Loader{Source: trainSet, BatchSize: 64, Shuffle: true, Seed: 1}

	for epoch := range 2 {
		nn.SetTraining(model, true)
		for b := range loader.Epoch(epoch) {
			l := loss.Loss(model.Forward(autograd.Const(b.X)), b.Y) // b.X is (64, 1, 28, 28)
			opt.ZeroGrad()
			l.Backward()
			opt.Step()
		}
		testLoss, acc := train.Evaluate(model, testSet, 500)
		fmt.Printf("epoch %d: test loss %.4f, accuracy %.2f%%\n", epoch+1, testLoss, 100*acc)
		if epoch == 1 && acc < 0.98 {
			log.Fatalf("accuracy %.2f%% is below the 98%% target", 100*acc)
		}
	}
}
