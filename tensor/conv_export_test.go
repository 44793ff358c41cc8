package tensor

// Test hooks for the convolution algorithms (see conv.go).

// ConvAlgoNames are the algorithms a test can force, by name.
var ConvAlgoNames = []string{"ref", "gemm", "depthwise", "winograd", "implicit", "small"}

var convAlgoByName = map[string]convAlgo{"ref": convRef, "gemm": convGemm, "depthwise": convDepthwise, "winograd": convWinograd, "implicit": convImplicit, "small": convSmall}

var convOpByName = map[string]convOp{"fwd": opForward, "dx": opBackInput, "dw": opBackWeight}

func convTestArgs(xShape, wShape []int, p ConvParams) convArgs {
	p = p.WithDefaults()
	geo, o := convGeom("test", xShape, wShape, p)
	return newConvArgs(geo, p, xShape[0], o)
}

// ConvAlgoApplies reports whether the named algorithm implements op ("fwd",
// "dx" or "dw") for these shapes.
func ConvAlgoApplies(name, op string, xShape, wShape []int, p ConvParams) bool {
	return convTestArgs(xShape, wShape, p).applicable(convAlgoByName[name], convOpByName[op])
}

// ConvAlgoChosen returns the name of the algorithm Conv2d and its gradients
// pick for op on these shapes.
func ConvAlgoChosen(op string, xShape, wShape []int, p ConvParams) string {
	al := convTestArgs(xShape, wShape, p).algo(convOpByName[op])
	for n, a := range convAlgoByName {
		if a == al {
			return n
		}
	}
	return "?"
}

// WithConvAlgo runs fn with every convolution forced to the named algorithm
// where it applies (others keep their automatic choice).
func WithConvAlgo(name string, fn func()) {
	prev := convForce
	convForce = convAlgoByName[name]
	defer func() { convForce = prev }()
	fn()
}
