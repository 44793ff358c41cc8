package suggest

import "testing"

func TestHint(t *testing.T) {
	known := []string{"epochs", "lr", "weight-decay", "optimizer"}
	for _, tc := range []struct{ word, want string }{
		{"epoch", ` (did you mean "epochs"?)`},
		{"weight_decay", ` (did you mean "weight-decay"?)`},
		{"Optimiser", ` (did you mean "optimizer"?)`},
		{"colour", " (known: epochs, lr, weight-decay, optimizer)"},
		{"l", " (known: epochs, lr, weight-decay, optimizer)"}, // one letter is no evidence
	} {
		if got := Hint(tc.word, known); got != tc.want {
			t.Errorf("Hint(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	if got, want := editDistance("kitten", "sitting"), 3; got != want {
		t.Errorf("editDistance = %d, want %d", got, want)
	}
}
