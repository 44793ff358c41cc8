// Package classify embeds a trained image classifier in a Go program. A
// [Classifier] opens a Fovea checkpoint or an ONNX file, prepares images as
// the model was trained (size, channels, inversion, mean and standard
// deviation, all recorded in the file) and returns the most probable
// classes at the model's calibrated temperature:
//
//	c, err := classify.Open("mnist-cnn-mnist.safetensors", classify.Options{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer c.Close()
//	img, _, err := image.Decode(f) // any image.Image
//	if err != nil {
//		log.Fatal(err)
//	}
//	p, err := c.Classify(ctx, img, 3)
//	if err != nil {
//		log.Fatal(err)
//	}
//	fmt.Println(p.Top[0].Label, p.Top[0].Probability)
//
// fovea predict and fovea explain load and prepare their images with this
// package, and the server (package serve) prepares its uploads with
// [Preprocessing], so an embedding program sees what they see; the
// program examples/classify checks that it does, from 10 goroutines.
//
// # Concurrency
//
// A Classifier is safe for concurrent use. It runs the model on engine
// plans ([engine.Compile]), which are compiled per batch size and are not
// safe for concurrent use: each batch size has a pool of at most
// Options.Plans plans (default GOMAXPROCS), compiled on first use and kept.
// A call takes a plan of its batch size for the time of its run and puts it
// back, so no two calls share one; when all are in use, a call waits for
// one. Plans are kept until [Classifier.Close], each with the buffers of
// its batch size, so memory grows with the batch sizes used (at most
// Options.Plans plans each). Batches larger than Options.MaxBatch run in
// chunks of that size. A
// model the engine cannot compile (or Options.Eager) runs its own forward
// pass instead, which goroutines may run at once (each on its own autograd
// tape); the model must be in evaluation mode and nobody may train it.
//
// Results do not depend on what other goroutines do: the same input in a
// batch of the same size gives the same bits. They may depend on the batch
// size, in the last bits: the engine's kernels block their sums by the
// batch, so an image classified alone ([Classifier.Classify], fovea
// predict) and the same image in a batch of 8 ([Classifier.ClassifyBatch])
// can differ by rounding, as in any BLAS-based framework.
//
// # Cancellation
//
// Every method that runs the model takes a [context.Context]. It is checked
// before each chunk of at most Options.MaxBatch inputs and while waiting for
// a plan; a chunk that has started cannot be interrupted and runs to its
// end, then the call returns the context's error. Lower Options.MaxBatch to
// bound how long a cancelled call may still run.
//
// # Errors
//
// Files, images and inputs from outside return errors naming what is
// wrong: a missing or corrupt file, an input of the wrong shape, a model
// that takes neither 1 nor 3 channels given an image. A panic of the model
// becomes an error. Only programmer errors panic, with a "classify: "
// message (Normalize of a slice that holds no whole number of inputs).
package classify
