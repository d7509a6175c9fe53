package door

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"time"
)

const (
	// outputLimit bounds how much of a command's output is kept and logged.
	outputLimit = 4 << 10
	// outputGrace is how long to keep reading output after the command has
	// exited, when something it started in the background still holds its
	// stdout or stderr open.
	outputGrace = 2 * time.Second
)

// execute runs j through the shell, waits for it and logs what happened.
func (r *Runner) execute(j *job) {
	log := r.log.With("event", j.event, "src", j.src, "stage", j.stage)
	if j.why != "" {
		log.Info(j.why)
	}
	log.Info("running "+j.stage+" command", "cmd", j.cmd)

	out := &capped{limit: outputLimit}
	cmd := exec.Command(r.shell, "-c", j.cmd)
	cmd.Stdout = out
	cmd.Stderr = out // the same writer: os/exec then uses one pipe
	cmd.SysProcAttr = detached()
	cmd.WaitDelay = outputGrace
	err := cmd.Run()

	var exitErr *exec.ExitError
	level := slog.LevelInfo
	switch {
	case err == nil:
	case errors.As(err, &exitErr), errors.Is(err, exec.ErrWaitDelay):
		if errors.Is(err, exec.ErrWaitDelay) {
			log.Warn(j.stage+" command left its output open, stopped reading", "cmd", j.cmd)
		}
		if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
			level = slog.LevelWarn
		}
	default:
		log.Error("failed to run "+j.stage+" command", "cmd", j.cmd, "err", err)
		return
	}

	lines := out.lines()
	for _, line := range lines {
		log.Log(context.Background(), level, j.stage+" command output", "line", line)
	}
	if out.dropped > 0 {
		log.Log(context.Background(), level, j.stage+" command output truncated", "dropped_bytes", out.dropped)
	}
	attrs := []any{"cmd", j.cmd, "status", cmd.ProcessState.ExitCode()}
	if cmd.ProcessState.ExitCode() < 0 {
		attrs = append(attrs, "exit", cmd.ProcessState.String()) // e.g. "signal: killed"
	}
	log.Log(context.Background(), level, j.stage+" command exited", attrs...)
}

// capped keeps the first limit bytes written to it and counts the rest.
// It never fails a write, so a chatty command is not killed by SIGPIPE.
type capped struct {
	limit   int
	buf     []byte
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if room := c.limit - len(c.buf); room > 0 {
		take := min(room, n)
		c.buf = append(c.buf, p[:take]...)
		p = p[take:]
	}
	c.dropped += len(p)
	return n, nil
}

// lines splits the kept output into lines, without empty trailing ones.
func (c *capped) lines() []string {
	s := strings.TrimRight(string(c.buf), "\r\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}
