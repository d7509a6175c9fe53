package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrderAndOnlyWhenDue(t *testing.T) {
	c := NewFake(time.Unix(1000, 0))
	var got []string
	c.AfterFunc(2*time.Second, func() { got = append(got, "b") })
	c.AfterFunc(1*time.Second, func() { got = append(got, "a") })
	stopped := c.AfterFunc(1500*time.Millisecond, func() { got = append(got, "never") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	c.Advance(1999 * time.Millisecond)
	if len(got) != 1 || got[0] != "a" {
		t.Fatalf("after 1.999s fired %v, want [a]", got)
	}
	c.Advance(time.Millisecond)
	if len(got) != 2 || got[1] != "b" {
		t.Fatalf("after 2s fired %v, want [a b]", got)
	}
	if want := time.Unix(1002, 0); !c.Now().Equal(want) {
		t.Fatalf("Now = %v, want %v", c.Now(), want)
	}
}

func TestFakeResetMovesDeadline(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	n := 0
	tm := c.AfterFunc(time.Second, func() { n++ })
	c.Advance(500 * time.Millisecond)
	tm.Reset(time.Second)
	c.Advance(900 * time.Millisecond)
	if n != 0 {
		t.Fatal("timer fired before its reset deadline")
	}
	c.Advance(100 * time.Millisecond)
	if n != 1 {
		t.Fatalf("timer fired %d times, want 1", n)
	}
}
