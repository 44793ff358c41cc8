package train

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports training as it runs: a live bar on a terminal, plain
// periodic lines elsewhere (logs, CI, pipes).
type progress struct {
	w           io.Writer
	interactive bool
	every       time.Duration

	bar       *progressbar.ProgressBar
	epoch     int
	epochs    int
	steps     int
	done      int
	lastPrint time.Time
	start     time.Time
}

func newProgress(w io.Writer, interactive bool, every time.Duration) *progress {
	return &progress{w: w, interactive: interactive, every: every}
}

// startEpoch starts epoch epoch of epochs, of steps batches of which done
// are done (a resumed epoch).
func (p *progress) startEpoch(epoch, epochs, steps, done int) {
	if p.w == nil {
		return
	}
	p.epoch, p.epochs, p.steps, p.done = epoch, epochs, steps, done
	p.start, p.lastPrint = time.Now(), time.Now()
	if p.interactive {
		p.bar = progressbar.NewOptions(steps,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
}

func (p *progress) step(loss, acc float64, images int) {
	if p.w == nil {
		return
	}
	p.done++
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f acc %.2f%%", p.epoch, p.epochs, loss, 100*acc))
		_ = p.bar.Add(1)
		return
	}
	if time.Since(p.lastPrint) >= p.every {
		p.lastPrint = time.Now()
		fmt.Fprintf(p.w, "epoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  %.0f img/s\n",
			p.epoch, p.epochs, p.done, p.steps, loss, 100*acc, float64(images)/time.Since(p.start).Seconds())
	}
}

func (p *progress) endEpoch(st EpochStats, hasTest bool) {
	if p.w == nil {
		return
	}
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
	line := fmt.Sprintf("epoch %d/%d  train loss %.4f  acc %.2f%%", st.Epoch, p.epochs, st.TrainLoss, 100*st.TrainAcc)
	if hasTest {
		line += fmt.Sprintf("  |  test loss %.4f  acc %.2f%%", st.TestLoss, 100*st.TestAcc)
	}
	line += fmt.Sprintf("  |  %.0f img/s  lr %.3g  %.1fs (elapsed %.1fs)", st.ImagesPerSec, st.LR, st.Seconds, st.Elapsed)
	fmt.Fprintln(p.w, line)
}

func (p *progress) swa(r SWAResult, hasTest bool) {
	if p.w == nil {
		return
	}
	line := fmt.Sprintf("weight average of epochs %d–%d (%d), batch-norm statistics from %d batches",
		r.From, r.From+r.Averaged-1, r.Averaged, r.BNBatches)
	if hasTest {
		line += fmt.Sprintf("  |  test loss %.4f  acc %.2f%%", r.TestLoss, 100*r.TestAcc)
	}
	fmt.Fprintln(p.w, line)
}
