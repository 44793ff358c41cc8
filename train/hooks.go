package train

// hooks are what a run does besides training, at three points of [Fit]'s
// loop: before an epoch's first batch, after each training step, and
// after an epoch's evaluation. Progress display, weight averaging,
// checkpoints and [Config.OnEpoch] are hooks, run in that order; an error
// from one stops training.
type hooks struct {
	epochStarts []func(r *run)
	steps       []func(r *run) error
	epochEnds   []func(r *run, st EpochStats) error
}

// addHooks installs the hooks r's Config asks for.
func (r *run) addHooks() {
	h := &r.hooks
	if r.cfg.Progress != nil {
		h.epochStarts = append(h.epochStarts, r.prog.onEpochStart)
		h.steps = append(h.steps, r.prog.onStep)
		h.epochEnds = append(h.epochEnds, r.prog.onEpochEnd)
	}
	if r.avg != nil {
		h.epochEnds = append(h.epochEnds, r.avg.onEpochEnd)
	}
	if r.cfg.CheckpointPath != "" {
		h.steps = append(h.steps, r.ckpt.onStep)
		h.epochEnds = append(h.epochEnds, r.ckpt.onEpochEnd)
	}
	if onEpoch := r.cfg.OnEpoch; onEpoch != nil {
		h.epochEnds = append(h.epochEnds, func(_ *run, st EpochStats) error {
			onEpoch(st)
			return nil
		})
	}
}

func (h *hooks) startEpoch(r *run) {
	for _, f := range h.epochStarts {
		f(r)
	}
}

func (h *hooks) step(r *run) error {
	for _, f := range h.steps {
		if err := f(r); err != nil {
			return err
		}
	}
	return nil
}

func (h *hooks) endEpoch(r *run, st EpochStats) error {
	for _, f := range h.epochEnds {
		if err := f(r, st); err != nil {
			return err
		}
	}
	return nil
}

// Progress: a live bar or periodic lines during an epoch, a line at its
// end (progress.go).

func (p *progress) onEpochStart(r *run) {
	p.startEpoch(r.epoch, r.cfg.Epochs, r.steps, r.done)
}

func (p *progress) onStep(r *run) error {
	p.step(r.part.LossSum/float64(r.part.Seen), float64(r.part.Correct)/float64(r.part.Seen), r.seen)
	return nil
}

func (p *progress) onEpochEnd(r *run, st EpochStats) error {
	p.endEpoch(st, r.testSet != nil)
	return nil
}

// Weight averaging: the weights at the end of epoch SWAStart and of every
// epoch after it join the average (swa.go); [run.finish] applies it.

func (a *averager) onEpochEnd(r *run, _ EpochStats) error {
	if r.epoch >= r.cfg.SWAStart {
		a.add()
	}
	return nil
}

// Checkpoints: every CheckpointEvery global steps within an epoch, and at
// each epoch's end after its evaluation (so the last step of an epoch is
// saved once, with the epoch's statistics).

func (c *checkpointer) onStep(r *run) error {
	if c.every == 0 || r.globalStep%c.every != 0 || r.done >= r.steps {
		return nil
	}
	return c.save(r.state(r.epoch-1, r.done))
}

func (c *checkpointer) onEpochEnd(r *run, _ EpochStats) error {
	return c.save(r.state(r.epoch, 0))
}
