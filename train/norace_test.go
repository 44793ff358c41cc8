//go:build !race

package train

// raceEnabled is false without the race detector (see race_test.go).
const raceEnabled = false
