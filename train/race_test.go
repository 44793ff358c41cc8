//go:build race

package train

// raceEnabled: the race detector drops sync.Pool items at random by design,
// so allocation counts mean nothing under it.
const raceEnabled = true
