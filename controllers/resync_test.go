package controllers

import (
	"testing"
	"time"
)

func TestJitteredResyncStaysWithinTenPercentAndSpreads(t *testing.T) {
	const d = 10 * time.Minute
	lo, hi := d, time.Duration(0)
	for range 1000 {
		got := jittered(d)
		if got < 9*time.Minute || got > 11*time.Minute {
			t.Fatalf("jittered(%s) = %s, outside ±10%%", d, got)
		}
		lo, hi = min(lo, got), max(hi, got)
	}
	// 1000 draws spread over most of the 2-minute window; lockstep would be 0.
	if hi-lo < time.Minute {
		t.Errorf("1000 resyncs spread over only %s", hi-lo)
	}
}
