package transport

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestObserveReportsPhasesAndServer(t *testing.T) {
	var got []string
	o := &Observer{
		Phase: func(phase string) func(error) {
			got = append(got, "start "+phase)
			return func(err error) {
				s := "end " + phase
				if err != nil {
					s += ": " + err.Error()
				}
				got = append(got, s)
			}
		},
		Server: func(host string, port int) {
			got = append(got, "server "+host)
			if port != 2525 {
				t.Errorf("port = %d, want 2525", port)
			}
		},
	}
	ctx := WithObserver(context.Background(), o)
	if ObserverFrom(ctx) != o {
		t.Fatal("ObserverFrom does not return the observer WithObserver stored")
	}
	end := StartPhase(ctx, PhaseDial)
	ObserveServer(ctx, "mx.example", 2525)
	end(nil)
	StartPhase(ctx, PhaseAuth)(errors.New("535 refused"))
	want := []string{"start dial", "server mx.example", "end dial", "start auth", "end auth: 535 refused"}
	if !slices.Equal(got, want) {
		t.Fatalf("reports = %q, want %q", got, want)
	}
}

func TestObserveWithoutObserverIsSafe(t *testing.T) {
	ctx := context.Background()
	if ObserverFrom(ctx) != nil {
		t.Fatal("ObserverFrom(Background) is not nil")
	}
	end := StartPhase(ctx, PhaseBody)
	if end == nil {
		t.Fatal("StartPhase returned nil without an observer")
	}
	end(nil)
	ObserveServer(ctx, "h", 25)

	// An observer with nil fields, or a Phase that returns nil, is allowed too.
	ctx = WithObserver(ctx, &Observer{Phase: func(string) func(error) { return nil }})
	if end := StartPhase(ctx, PhaseTLS); end == nil {
		t.Fatal("StartPhase returned nil when Phase returned nil")
	} else {
		end(errors.New("x"))
	}
	ObserveServer(ctx, "h", 25)
	ctx = WithObserver(ctx, nil)
	if ObserverFrom(ctx) != nil {
		t.Fatal("WithObserver(ctx, nil) did not remove the observer")
	}
	StartPhase(ctx, PhaseDial)(nil)
}

func BenchmarkObserveStartPhaseUnobserved(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		StartPhase(ctx, PhaseDial)(nil)
	}
}
